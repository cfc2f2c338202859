"""Headless Chromium for the browser tests (Debian's chromium, no browser download) and the
OIDC provider they sign in with.

Playwright's sync API keeps an event loop running in the test thread while it is started; the
browser is therefore started per module (and the async-unsafe switch set only meanwhile), so
the tests that run after these find the thread as they expect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import skip_or_fail

from .oidc_provider import running_provider

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ALICE = {
    "sub": "alice",
    "email": "alice@example.com",
    "preferred_username": "alice",
    "given_name": "Alice",
    "family_name": "Admin",
    "groups": ["/tenants/acme"],
    "realm_access": {"roles": ["org-admin", "offline_access"]},
}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch arguments with Debian's Chromium and its flags."""
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="module")
def chromium(browser_type_launch_args: dict) -> Iterator[Browser]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    # The ORM calls of test bodies and of the live server run beside Playwright's loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**browser_type_launch_args)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def oidc_provider():
    with running_provider([ALICE]) as provider:
        yield provider
