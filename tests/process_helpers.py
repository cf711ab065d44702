"""Running the project in a fresh Python process, as a server or a command would start."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code_or_args, **env):
    """`python <args>` in the project folder, with the settings' variables only as given."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "HTTPS",
            "DATABASE_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",  # set for the browser tests only
        }
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
