"""tests/pgserver.py: a throwaway PostgreSQL cluster that goes away whatever happens."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import pgserver

pytestmark = pytest.mark.skipif(
    not (list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or pgserver.shutil.which("initdb")),
    reason="PostgreSQL server binaries are not installed",
)


def test_a_terminated_run_stops_its_cluster_and_removes_its_folder(tmp_path):
    """A CI job killed on its timeout sends SIGTERM: the cluster used to outlive the script,
    its server and folder left behind."""
    script = Path(pgserver.__file__)
    marker = tmp_path / "url"
    command = f'echo "$DATABASE_URL" > {marker}; exec sleep 60'
    run = subprocess.Popen(
        [sys.executable, str(script), "--", "sh", "-c", command],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(300):
            if marker.exists() and marker.read_text().strip():
                break
            time.sleep(0.1)
        url = marker.read_text().strip()
        port = url.rsplit(":", 1)[1].split("/")[0]
        folders = {line.split()[-1] for line in _postgres_commands() if f"-p {port}" in line}
        assert folders, "the cluster was running"
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # anything of the run still there
    assert not any(f"-p {port} " in line for line in _postgres_commands())
    assert not any(Path(folder).exists() for folder in folders)


def _postgres_commands() -> list[str]:
    """The command lines of running postgres servers, ending with their socket folder."""
    result = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [
        line.split(" -c ")[0]
        for line in result.stdout.splitlines()
        if "postgres -D" in line and " -k " in line
    ]
