import html
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from partnerships.middleware import RENEWED_AT


def management(*prefixes: str) -> dict[str, str]:
    """Empty inline formsets, as the admin page would post them."""
    data = {}
    for prefix in prefixes:
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


def count_queries(client, url: str, **headers) -> int:
    """The queries of one request, with the session's once-a-minute renewal not due (its
    write would add three: middleware.py)."""
    session = client.session
    if session.session_key is not None:
        session[RENEWED_AT] = int(time.time())
        session.save()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.status_code
    return len(queries)


def page_text(response) -> str:
    """The page as a reader sees it: entities such as &#x27; turned back into characters."""
    return html.unescape(response.content.decode())


def form_errors(response) -> list[str]:
    """Every error message on an admin change form, main form and inlines."""
    messages = [str(e) for e in response.context["adminform"].form.non_field_errors()]
    for errors in response.context["adminform"].form.errors.values():
        messages.extend(str(e) for e in errors)
    for inline in response.context["inline_admin_formsets"]:
        messages.extend(str(e) for e in inline.formset.non_form_errors())
        for form_errors in inline.formset.errors:
            for errors in form_errors.values():
                messages.extend(str(e) for e in errors)
    return messages


def as_shown(response) -> dict:
    """What an admin change page posts when saved as it was shown: its form's and inline
    forms' values, and the inlines' management forms."""
    forms = [response.context["adminform"].form]
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management_form = inline.formset.management_form
        for name in management_form.fields:
            data[management_form[name].html_name] = management_form[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for field in form:
            value = field.value()
            if value is None or value is False:
                continue
            if value is True:
                value = "on"
            elif isinstance(value, (list, tuple)):
                value = [str(item) for item in value]
            else:
                value = str(value)
            data[field.html_name] = value
    return data
