"""PDF from the same templates the browser prints, through WeasyPrint.

WeasyPrint fetches what a page links to. Only the site's own static files are served to it,
read from disk: no request leaves the process (a page cannot make the server fetch a URL), and
a single-worker server does not wait on itself.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.http import content_disposition_header

from .exports import safe_filename

BASE_URL = "https://report.invalid/"


def _static_path(url: str) -> str | None:
    path = urlparse(url).path
    prefix = urlparse(settings.STATIC_URL).path
    if not path.startswith(prefix):
        return None
    name = path[len(prefix) :]
    try:
        # Production serves hashed names from STATIC_ROOT; tests and development the sources.
        if settings.STATIC_ROOT and staticfiles_storage.exists(name):
            return staticfiles_storage.path(name)
    except (NotImplementedError, ValueError, OSError, SuspiciousFileOperation):
        pass
    try:
        found = finders.find(name)
    except SuspiciousFileOperation:  # "../" out of the static folders
        return None
    return found if isinstance(found, str) else None


def url_fetcher(url: str, *args, **kwargs):
    from weasyprint.urls import URLFetcherResponse

    path = _static_path(url)
    if path is None:
        raise ValueError(f"Only the site's static files are available to a PDF, not {url}")
    with open(path, "rb") as handle:
        data = handle.read()
    mime_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return URLFetcherResponse(url, body=data, headers={"Content-Type": mime_type})


def render(template: str, context: dict, request: HttpRequest | None = None) -> bytes:
    from weasyprint import HTML  # imported on use: it loads Pango, which only PDFs need

    html = render_to_string(template, context, request=request)
    return HTML(string=html, base_url=BASE_URL, url_fetcher=url_fetcher).write_pdf()


def response(request: HttpRequest, template: str, context: dict, *, filename: str) -> HttpResponse:
    result = HttpResponse(render(template, context, request), content_type="application/pdf")
    result["Content-Disposition"] = content_disposition_header(False, safe_filename(filename))
    return result
