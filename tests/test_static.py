"""Production static files: collectstatic with the hashed, compressed storage `make run` uses."""

import io
import re

import pytest
from django.core.management import call_command


def test_collectstatic_builds_the_manifest(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", stdout=io.StringIO())
    manifest = (tmp_path / "staticfiles.json").read_text()
    for name in ("vendor/chartjs/chart.umd.min.js", "js/dashboard.js", "css/dashboard.css"):
        assert f'"{name}"' in manifest
    assert list(tmp_path.glob("django_htmx/htmx-2.min.*.js.gz"))


@pytest.mark.django_db
def test_pages_render_with_the_manifest_storage(settings, tmp_path, official_client):
    test_collectstatic_builds_the_manifest(settings, tmp_path)
    response = official_client.get("/")
    assert response.status_code == 200
    assert re.search(r"/static/vendor/chartjs/chart\.umd\.min\.[0-9a-f]{12}\.js", response.text)


def test_favicon_ico_points_at_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
