"""Who changed a record, as the audit trail names them (history.user_name)."""

from django import template

from .. import history

register = template.Library()


@register.filter
def user_name(user) -> str:
    return history.user_name(user)
