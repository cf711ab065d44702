import os
import shutil
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from partnerships.management.commands import load_reference_data
from partnerships.models import Donation, Organisation, Partnership, Region, Visit

# Playwright's sync API runs an event loop in the test thread; Django's ORM must allow it there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# DEBUG is off in tests, so the settings are production's, HTTPS included; the test client and
# the live server speak plain HTTP. Set before any server starts (live_server is session-wide).
# test_security.py checks the production HTTPS settings in a process of their own.
django_settings.SECURE_SSL_REDIRECT = False
django_settings.SESSION_COOKIE_SECURE = False
django_settings.CSRF_COOKIE_SECURE = False
django_settings.SECURE_HSTS_SECONDS = 0

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    browser_tests = [item for item in items if item.get_closest_marker("browser")]
    if not browser_tests:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(
            f"Chromium not found at {CHROMIUM}: browser tests cannot run in CI "
            "(apt-get install -y chromium)."
        )
    skip = pytest.mark.skip(
        reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium to run these)"
    )
    for item in browser_tests:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    # The manifest storage needs collectstatic; tests and live_server read the files directly.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the site's language: a request in English leaves English active
    in the thread (LocaleMiddleware activates, nothing deactivates), which would change how
    the next test's records are named."""
    from django.utils import translation

    with translation.override(django_settings.LANGUAGE_CODE):
        yield


class Reference:
    """Handles on the reference record, loaded through the real command."""

    def __init__(self):
        self.jiangkou = Region.objects.get(name="江口县")
        self.minxiao = Region.objects.get(name="闵孝镇")
        self.qixin = Region.objects.get(name="齐心村")
        self.zhangmutou = Region.objects.get(name="樟木头镇")
        self.pairing = Partnership.objects.get(
            helping_region=self.zhangmutou, assisted_region=self.jiangkou
        )
        self.town_pairing = Partnership.objects.get(
            helping_region=self.zhangmutou, assisted_region=self.minxiao
        )
        self.visit = Visit.objects.get(partnership=self.pairing)
        self.donation = Donation.objects.get(partnership=self.pairing)
        self.town_government = Organisation.objects.get(name="樟木头镇人民政府")
        self.red_cross = Organisation.objects.get(name="江口县红十字会")


def handover(partnership, region, amount: str, day, donors=()):
    """A funds handover of `amount` yuan to `region` on `day`, by `donors`, with its lines."""
    donation = Donation.objects.create(
        partnership=partnership, date=day, amount=Decimal(amount), kind="funds", region=region
    )
    donation.donors.set(donors)
    donation.rebalance()
    return donation


@pytest.fixture
def reference(db):
    load_reference_data.load()
    return Reference()


@pytest.fixture
def official(django_user_model):
    """An official who reads every pairing (the role the dashboard tests look through)."""
    from django.contrib.auth.models import Group

    from partnerships.access import OFFICIAL_ALL

    user = django_user_model.objects.create_user(username="official", password="pw-Official-1")
    user.groups.add(Group.objects.get(name=OFFICIAL_ALL))
    return user


@pytest.fixture
def official_client(client, official):
    client.force_login(official)
    return client


@pytest.fixture
def english_admin_client(admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


def yuan(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # An official's browser in China asks for Chinese; the English switch is tested from there.
    return {**browser_context_args, "locale": "zh-CN"}
