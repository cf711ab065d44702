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
