"""Browser tests: Playwright drives the system's Chromium (Debian's `chromium` package, which `make test`
installs) against pytest-django's live server. Nothing downloads a browser: the executable is the system's
(`CHROMIUM` names another). Without one the tests are skipped, saying why.

Fixtures for further browser tests: `console` (a signed-in operator's page at 1400 px), `phone` (a 390 by 844
touch screen), `sign_in(page)`, and `server` (the live server's URL)."""

import os
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

CONSOLE_VIEWPORT = {"width": 1400, "height": 900}
PHONE_VIEWPORT = {"width": 390, "height": 844}
OPERATOR = ("operator", "correct horse battery staple")


def chromium_executable() -> str | None:
    return shutil.which(os.environ.get("CHROMIUM", "chromium"))


@pytest.fixture
def browser(monkeypatch):
    """One per test: Playwright's sync API runs an event loop in this thread while it is started, which the rest
    of the suite (asyncio.run, Django's async-safety checks) must never find still running."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no Chromium: `make test` installs Debian's chromium package (apt-get, as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is pinned in requirements.txt")
    # The test's own ORM calls (arranging data, checking rows) are plain synchronous code between Playwright's calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    connections.close_all()  # opened outside Playwright's loop: it would not be found, nor closed, inside it
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()
        connections.close_all()  # and the ones opened inside it, before the test database is dropped


@pytest.fixture
def server(live_server) -> str:
    return live_server.url


@pytest.fixture
def operator(transactional_db):
    return get_user_model().objects.create_superuser(OPERATOR[0], "operator@example.com", OPERATOR[1])


def sign_in(page, server: str) -> None:
    page.goto(f"{server}/admin/")
    page.get_by_label("Username").fill(OPERATOR[0])
    page.get_by_label("Password").fill(OPERATOR[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/admin/")


@pytest.fixture
def console(browser, server, operator):
    context = browser.new_context(viewport=CONSOLE_VIEWPORT, accept_downloads=True)
    page = context.new_page()
    sign_in(page, server)
    yield page
    context.close()


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True, device_scale_factor=2)
    yield context.new_page()
    context.close()


def fits_the_screen(page) -> bool:
    """No sideways scrolling: nothing is wider than the viewport."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
