"""The inbox in a real browser: Debian's chromium driven by Playwright against the live server,
with the real pipeline behind it (moto SQS, Redis bucket, the sandbox gateway, a consumer)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import requests
from playwright.sync_api import expect

from onlyfans.sandbox.models import SandboxFault
from tests.conftest import make_user
from tests.crm.factories import sign
from tests.support.accessibility import serious_violations
from tests.ui.conftest import log_in, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_SECRET = "test-webhook-secret"  # tests/settings.py


def open_conversation(page, name: str):
    page.get_by_role("link", name=re.compile(name)).click()
    expect(
        page.get_by_role("heading", level=2, name=re.compile(rf"^{re.escape(name)} @"))
    ).to_be_visible()


def outbound(page, text: str):
    return page.locator("#thread-messages .message.outbound", has_text=text)


def send(page, text: str):
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def test_a_chatter_logs_in_and_sees_the_inbox_pinned_first(page, live_server, inbox):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login"))
    assert serious_violations(page) == []
    screenshot(page, "login")

    log_in(page, live_server, "creator", inbox.password)

    rows = page.locator("#conversation-items .conversation-item")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("Alex B.")  # pinned
    expect(rows.first.locator(".badge")).to_contain_text("3")
    expect(rows.nth(1)).to_contain_text("Sam K.")
    assert serious_violations(page) == []
    screenshot(page, "inbox")


def test_a_message_sent_from_the_composer_goes_from_queued_to_sent_without_a_reload(
    page, live_server, inbox, queues, sandbox_gateway, consumer
):
    log_in(page, live_server, "creator", inbox.password)
    open_conversation(page, "Sam K.")
    page.evaluate("window.loadedOnce = true")

    send(page, "Thanks for staying, Sam!")

    message = outbound(page, "Thanks for staying, Sam!")
    expect(message).to_have_attribute("data-status", "queued")
    expect(message).to_contain_text(re.compile(r"sends in ~\d+ s|sending any moment"))
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    row = page.locator(f"#conv-{inbox.conversations['sam.k'].pk}")
    expect(row.locator("[data-marker]")).to_have_text("queued")  # the list's marker, by polling
    expect(row).to_contain_text("You: Thanks for staying, Sam!")
    screenshot(page, "thread-queued")

    consumer()

    expect(message).to_have_attribute("data-status", "sent", timeout=30_000)
    expect(message).to_contain_text("Sent")
    expect(row.locator("[data-marker]")).to_have_count(0)
    assert page.evaluate("window.loadedOnce") is True  # the same page: no reload
    assert serious_violations(page) == []
    screenshot(page, "thread-sent")


def test_a_queued_message_can_be_cancelled(page, live_server, inbox, queues):
    log_in(page, live_server, "creator", inbox.password)
    open_conversation(page, "Casey")
    send(page, "Oops, wrong chat")
    message = outbound(page, "Oops, wrong chat")
    expect(message).to_have_attribute("data-status", "queued")

    message.get_by_role("button", name="Cancel").click()

    expect(message).to_have_attribute("data-status", "cancelled")
    expect(message).to_contain_text("Cancelled")
    expect(message.get_by_role("button", name="Cancel")).to_have_count(0)


def test_retrying_a_failed_message_makes_a_second_visible_attempt(
    page, live_server, inbox, queues, sandbox_gateway, consumer
):
    SandboxFault.objects.create(status_code=400, remaining=1)  # the gateway refuses the first call
    consumer()
    log_in(page, live_server, "creator", inbox.password)
    open_conversation(page, "Jordan R.")

    send(page, "New set is live")
    message = outbound(page, "New set is live")
    expect(message).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(message).to_contain_text("Failed: ")
    expect(message).to_contain_text("400")
    screenshot(page, "thread-failed")

    message.get_by_role("button", name="Retry").click()

    expect(message).to_have_attribute("data-status", "sent", timeout=30_000)
    expect(message).to_have_attribute("data-attempts", "2")
    expect(message).to_contain_text("2 attempts")


def test_an_inbound_webhook_message_appears_in_the_open_thread(page, live_server, inbox):
    log_in(page, live_server, "creator", inbox.password)
    open_conversation(page, "Alex B.")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    event = {
        "id": "evt_browser_1",
        "type": "message.received",
        "createdAt": now,
        "data": {
            "fan": {"onlyfansUserId": "fan_500", "username": "alex_b"},
            "message": {"id": "up_1", "content": "Did you get my tip?", "sentAt": now},
        },
    }
    body = json.dumps(event).encode()
    headers = {
        k.removeprefix("HTTP_").replace("_", "-"): v for k, v in sign(WEBHOOK_SECRET, body).items()
    }
    response = requests.post(
        f"{live_server.url}/api/onlyfans/webhooks/{inbox.account.pk}",
        data=body, headers={"Content-Type": "application/json", **headers}, timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text

    inbound = page.locator("#thread-messages .message.inbound", has_text="Did you get my tip?")
    expect(inbound).to_have_attribute("data-status", "received", timeout=30_000)
    row = page.locator(f"#conv-{inbox.conversations['alex_b'].pk}")
    expect(row).to_contain_text("Did you get my tip?")
    expect(row.locator(".badge")).to_have_count(0)  # read: the thread is open


def test_an_outsider_gets_404_on_someone_elses_conversation(page, live_server, inbox):
    make_user("stranger")
    conversation = inbox.conversations["alex_b"]
    log_in(page, live_server, "stranger", "pw-stranger")
    expect(page.locator("#conversation-items .conversation-item")).to_have_count(0)

    response = page.goto(f"{live_server.url}/messages/onlyfans/{conversation.pk}")

    assert response.status == 404
    assert "Alex" not in page.content()


def test_the_list_works_with_the_keyboard_alone(page, live_server, inbox):
    log_in(page, live_server, "creator", inbox.password)
    page.keyboard.press("j")
    focused = page.locator(".conversation-link:focus")
    expect(focused).to_contain_text("Alex B.")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("j")
    page.keyboard.press("ArrowDown")
    expect(focused).to_contain_text("Jordan R.")
    page.keyboard.press("k")
    expect(focused).to_contain_text("Sam K.")

    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=2, name="Sam K. @sam.k")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/messages/onlyfans/{inbox.conversations['sam.k'].pk}$"))
    expect(page.locator('.conversation-link[aria-current="true"]')).to_contain_text("Sam K.")
    page.keyboard.press("/")
    expect(page.get_by_label("Search conversations")).to_be_focused()
    page.keyboard.type("jord")
    expect(page.locator("#conversation-items .conversation-item")).to_have_count(1)
    expect(page.locator("#conversation-items .conversation-item")).to_contain_text("Jordan R.")


def test_a_refused_message_is_explained_inline_and_the_text_is_kept(page, live_server, inbox):
    log_in(page, live_server, "creator", inbox.password)
    open_conversation(page, "Casey")
    page.get_by_text("More").click()
    page.get_by_label("Media URLs (https, one per line)").fill("http://insecure.example/pic.jpg")
    send(page, "Look at this")

    expect(page.get_by_role("alert")).to_contain_text("Media URLs:")
    expect(page.get_by_label("Message", exact=True)).to_have_value("Look at this")
    expect(page.get_by_label("Media URLs (https, one per line)")).to_have_value(
        "http://insecure.example/pic.jpg"
    )
    expect(
        page.locator("#thread-messages .message.outbound", has_text="Look at this")
    ).to_have_count(0)
