"""Deploy checks: `manage.py check --deploy` fails on the public development key."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def development_key_in_production(app_configs, **kwargs):
    if settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is the public development key.",
                hint="Set the SECRET_KEY environment variable to a long random value.",
                id="partnerships.E001",
            )
        ]
    return []
