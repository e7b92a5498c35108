"""Page tests: Playwright drives Debian's chromium against pytest-django's live server.

The browser lives for one test module at a time: Playwright's sync API runs an event loop in
this thread, and Django refuses database calls from a thread with a running loop unless
DJANGO_ALLOW_ASYNC_UNSAFE is set — which this fixture sets only while the browser is open.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from crm.models import MessageDirection
from tests.conftest import make_account, make_user
from tests.crm.factories import make_conversation, make_fan, make_message

REPORTS = Path(__file__).resolve().parents[2] / "var" / "test-reports"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip(
            "Debian's chromium is not installed (make test installs it unless INSTALL_CHROMIUM=0)"
        )
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 820})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def log_in(page, live_server, username: str, password: str):
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/messages/onlyfans")


@pytest.fixture
def sandbox_gateway(settings, live_server):
    """Delivery goes to the sandbox gateway mounted on the live server."""
    settings.ONLYFANS_API_BASE_URL = f"{live_server.url}/sandbox/onlyfans"
    return settings.ONLYFANS_API_BASE_URL


@pytest.fixture
def consumer():
    """start() runs the pipeline's consumer in a thread until the test ends."""
    from onlyfans.consumer import Consumer

    stop = threading.Event()
    threads: list[threading.Thread] = []

    def run() -> None:
        try:
            Consumer(stop=stop).run(wait_seconds=1)
        finally:
            connections.close_all()

    def start() -> None:
        thread = threading.Thread(target=run, name="test-consumer", daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=15)


@pytest.fixture
def inbox(db):
    """A creator with a lively inbox: a pinned conversation, unread ones, one quiet."""
    owner = make_user("creator")
    # A fast limit: a test's second delivery never waits for the next slot.
    account = make_account(owner, username="luna", rate_limit_per_minute=600)
    now = timezone.now()
    people = [
        ("fan_500", "alex_b", "Alex B.", "412.50", 3, True),
        ("fan_501", "sam.k", "Sam K.", "89.99", 2, False),
        ("fan_502", "jordan_r", "Jordan R.", "1250.00", 0, False),
        ("fan_503", "casey", "Casey", "9.99", 1, False),
    ]
    conversations = {}
    for index, (fan_id, username, name, spent, unread, pinned) in enumerate(people):
        fan = make_fan(
            account, onlyfans_user_id=fan_id, username=username, display_name=name,
            total_spent=spent, tips="20.00", tags=["vip"] if pinned else [],
            expires_at=now + timedelta(days=3 + index * 10),
        )  # fmt: skip
        conversation = make_conversation(
            fan, pinned=pinned, unread_count=unread,
            last_activity_at=now - timedelta(minutes=10 * index),
            last_message_at=now - timedelta(minutes=10 * index),
            last_message_preview=f"Hello from {name}",
        )  # fmt: skip
        make_message(
            conversation, f"Hello from {name}", sent_at=now - timedelta(minutes=10 * index + 1)
        )
        make_message(
            conversation, f"Hi {name}!", direction=MessageDirection.OUTBOUND,
            sent_at=now - timedelta(minutes=10 * index),
        )  # fmt: skip
        conversations[username] = conversation
    return type(
        "Inbox",
        (),
        {
            "owner": owner,
            "password": "pw-creator",
            "account": account,
            "conversations": conversations,
        },
    )
