import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerships.settings")

application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - settings are configured by the line above
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

if not settings.DEBUG and settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
    # The development key is in the repository: signing sessions with it in production would
    # let anyone forge them. `make run` makes a local key; production sets SECRET_KEY.
    raise ImproperlyConfigured(
        "Refusing to start: SECRET_KEY is the public development key. Set SECRET_KEY."
    )

from django.urls import get_resolver  # noqa: E402

from .startup import freeze_startup_objects, limit_statement_time  # noqa: E402

# Import the URL patterns, and through them every view module, as the first request would,
# so that they are frozen with the rest of start-up (partnerships/startup.py says why).
get_resolver().url_patterns  # noqa: B018 - evaluated for its import side effect
freeze_startup_objects()
limit_statement_time()
