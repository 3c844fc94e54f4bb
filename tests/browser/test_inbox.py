"""The Inbox in headless Chromium against the real gateway: a simulated contact writes, the chat jumps to the top
with its unread count, the operator opens it (read receipts go out), answers, and the contact's phone receives the
answer; at desktop width and at 375 px, with no console error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, expect

from tests.browser.conftest import DESKTOP, PHONE, Gateway, login, open_page, screenshot, unlabelled_inputs

pytestmark = pytest.mark.browser

SESSION = "inbox-1"
FIRST = "6281311110001"
SECOND = "6281311110002"


def _linked_session(gateway: Gateway) -> None:
    admin = gateway.token("admin")
    status, body = gateway.post("/api/sessions", {"session_id": SESSION, "name": "Front desk"}, admin)
    assert status == 201, body
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the QR code is on screen, then the phone scans it
        status, body = gateway.post(f"/simulator/sessions/{SESSION}/scan", {"phone": "6281399990000"})
        if status == 202:
            break
        time.sleep(0.3)
    assert status == 202, body
    while time.monotonic() < deadline:
        status, body = gateway.call("GET", f"/api/sessions/{SESSION}", token=admin)
        if body["data"]["status"] == "WORKING":
            return
        time.sleep(0.3)
    raise AssertionError(f"{SESSION} not WORKING: {body}")


def _sent_to(gateway: Gateway, phone: str) -> list[str]:
    log = Path(gateway.env["AUTH_SESSIONS_DIR"]) / "_simulator_sent.jsonl"
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [str(line.get("text")) for line in lines if line.get("session_id") == SESSION
            and str(line.get("to", "")).startswith(phone)]


async def test_a_contact_writes_the_chat_jumps_up_and_the_operator_answers(browser: Browser,
                                                                          gateway: Gateway) -> None:
    _linked_session(gateway)
    status, body = gateway.post(f"/simulator/sessions/{SESSION}/inbound", {"from": FIRST, "text": "Pagi",
                                                                           "push_name": "Ani"})
    assert status == 202, body
    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/dashboard.html#inbox")
    await page.select_option("#inbox-session", SESSION)
    chats = page.locator("#inbox-chats .inbox-item")
    await expect(chats.first).to_contain_text("Ani", timeout=15_000)
    await expect(chats.first.locator(".inbox-unread")).to_have_text("1")

    # a second contact writes: that chat jumps to the top with its count, live
    status, body = gateway.post(f"/simulator/sessions/{SESSION}/inbound", {"from": SECOND, "text": "Kamar kosong?",
                                                                           "push_name": "Bayu"})
    assert status == 202, body
    await expect(chats.first).to_contain_text("Bayu", timeout=15_000)
    await expect(chats.first.locator(".inbox-unread")).to_have_text("1")
    await expect(chats.nth(1)).to_contain_text("Ani")
    assert await unlabelled_inputs(page) == []
    await screenshot(page, "inbox-list-desktop")

    await chats.first.locator("button").click()
    await expect(page.locator("#inbox-messages")).to_contain_text("Kamar kosong?")
    await expect(chats.first.locator(".inbox-unread")).to_have_count(0, timeout=15_000)  # read on opening
    await page.fill("#inbox-text", "Ada, kak. Untuk berapa malam?")
    await page.click("#inbox-send")
    await expect(page.locator("#inbox-messages .inbox-out").last).to_contain_text("Ada, kak. Untuk berapa malam?")
    await expect(page.locator("#inbox-messages .inbox-out .inbox-receipt").last).to_contain_text("✓",
                                                                                             timeout=20_000)
    deadline = time.monotonic() + 20
    while "Ada, kak. Untuk berapa malam?" not in _sent_to(gateway, SECOND) and time.monotonic() < deadline:
        await page.wait_for_timeout(200)
    assert _sent_to(gateway, SECOND) == ["Ada, kak. Untuk berapa malam?"]  # the contact's phone has it
    await expect(chats.first).to_contain_text("You: Ada, kak")

    # a reply to the contact's message, then a file
    await page.locator("#inbox-messages .inbox-in").first.get_by_role("button", name="Reply").click()
    await expect(page.locator("#inbox-replying")).to_contain_text("Kamar kosong?")
    await page.fill("#inbox-text", "Dua malam?")
    await page.click("#inbox-send")
    await expect(page.locator("#inbox-replying")).to_be_hidden()
    await expect(page.locator("#inbox-messages .inbox-out").last).to_contain_text("Dua malam?")
    pdf: FilePayload = {"name": "harga.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%price list\n"}
    await page.set_input_files("#inbox-file", files=[pdf])
    await page.fill("#inbox-text", "Daftar harga")
    await page.click("#inbox-send")
    await expect(page.locator("#inbox-messages .inbox-out").last).to_contain_text("harga.pdf")
    status, body = gateway.call("GET", f"/api/chats/{SECOND}/messages?session_id={SESSION}&limit=5",
                                token=gateway.token("operator"))
    assert status == 200, body
    newest = body["data"]["items"]
    incoming = next(m for m in newest if m["direction"] == "in")
    assert [(m["type"], m["text"] or m["caption"], m["reply_to"]) for m in newest[:2]] == [
        ("document", "Daftar harga", None), ("text", "Dua malam?", incoming["wa_message_id"])]

    # a text file is no voice note: the server refuses it (415) and its own error is shown, nothing breaks
    watch.allow("/api/messages/send", 415)
    note: FilePayload = {"name": "note.txt", "mimeType": "text/plain", "buffer": b"halo"}
    await page.set_input_files("#inbox-file", files=[note])
    await page.check("#inbox-voice")
    await page.click("#inbox-send")
    await expect(page.locator("#inbox-answer-notice")).to_be_visible()
    assert await page.locator("#inbox-answer-notice").get_attribute("role") == "alert"
    await screenshot(page, "inbox-chat-desktop")

    # at 375 px: one pane at a time, nothing scrolls sideways, back to the list
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    assert await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 1
    await expect(page.locator("#inbox-chats")).to_be_hidden()
    await screenshot(page, "inbox-chat-375")
    await page.click("#inbox-back")
    await expect(page.locator("#inbox-chats")).to_be_visible()
    assert await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 1
    await screenshot(page, "inbox-list-375")
    await page.set_viewport_size(DESKTOP)
    watch.check()


async def test_a_view_only_user_reads_the_inbox_without_answering(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "user")
    await page.goto(f"{gateway.url}/dashboard.html#inbox")
    await expect(page.locator(f"#inbox-session option[value='{SESSION}']")).to_have_count(1, timeout=30_000)
    await page.select_option("#inbox-session", SESSION)
    first = page.locator("#inbox-chats .inbox-item").first
    await expect(first).to_contain_text("Bayu")
    await first.locator("button").click()
    await expect(page.locator("#inbox-messages")).to_contain_text("Kamar kosong?")
    await expect(page.locator("#inbox-answer")).to_be_hidden()
    await expect(page.locator("#inbox-archive")).to_be_hidden()
    assert await page.locator("#inbox-messages button").count() == 0  # no reply or reaction buttons
    watch.check()  # and no refused request: a user's page asks for nothing it may not do
