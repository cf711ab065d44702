"""django-axes under a name staff can read in the admin's index (its own is "Axes")."""

from axes.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AxesConfig(AppConfig):
    verbose_name = _("Sign-in security")
