"""The dashboard in headless Chromium against the real gateway: login, QR linking, sending, broadcast, roles.

The tests run in order and share the gateway: the session linked in the QR test is the one the later tests send
and broadcast from. Each page is screenshotted on a desktop and on a 375 px phone (test-artifacts/screenshots/).
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    PASSWORDS,
    PHONE,
    Gateway,
    focus_by_tab,
    login,
    open_page,
    screenshot,
    unlabelled_inputs,
)

pytestmark = pytest.mark.browser

SESSION = "sales-1"
# Every status the tracked message shows, in order, as the page changes it (no polling in the test either).
RECORD_STATUSES = """() => {
  window.__statuses = [];
  const note = (v) => { if (v && window.__statuses[window.__statuses.length - 1] !== v) window.__statuses.push(v); };
  new MutationObserver(() => {
    const cell = document.querySelector('#send-tracked [data-message-status]');
    if (cell) note(cell.dataset.value);
  }).observe(document.querySelector('#send-tracked'), {subtree: true, childList: true, attributes: true});
}"""
PHONE_NUMBER = "6281234567890"


async def both_sizes(page: Page, name: str) -> None:
    """Screenshots of the page as it is, at desktop width and at 375 px (no horizontal scrolling there)."""
    await page.set_viewport_size(DESKTOP)
    await screenshot(page, f"{name}-desktop")
    await page.set_viewport_size(PHONE)
    await page.wait_for_timeout(150)
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} scrolls sideways by {overflow} px at 375 px"
    await screenshot(page, f"{name}-375")
    await page.set_viewport_size(DESKTOP)


async def test_login_by_keyboard_with_a_wrong_password_first(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    watch.allow("/api/auth/login", 401)
    await page.goto(f"{gateway.url}/login.html")
    assert await unlabelled_inputs(page) == []
    await both_sizes(page, "login")
    await focus_by_tab(page, "#username")
    await page.keyboard.type("admin")
    await page.keyboard.press("Tab")
    await page.keyboard.type("not the password")
    await page.keyboard.press("Enter")
    error = page.locator("#login-notice")
    await expect(error).to_have_text("Wrong username or password.")
    await expect(error).to_have_attribute("role", "alert")
    await expect(page.locator("#password")).to_be_focused()
    await screenshot(page, "login-wrong-password-desktop")
    await page.keyboard.type(PASSWORDS["admin"])
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/dashboard.html**")
    await expect(page.locator("#who-am-i")).to_have_text("admin · admin")
    await expect(page.locator("#live-state")).to_have_text("Live")
    watch.check()


async def test_a_locked_account_and_an_expired_session_are_explained(browser: Browser, gateway: Gateway) -> None:
    status, _ = gateway.post("/api/users", {"username": "locked", "password": "locked-pass-1234", "role": "user"},
                             token=gateway.token("admin"))
    assert status == 201
    page, watch = await open_page(browser)
    watch.allow("/api/auth/login", 401)
    watch.allow("/api/auth/login", 429)
    await page.goto(f"{gateway.url}/login.html")
    for _ in range(3):  # LOGIN_MAX_FAILURES=3 for the browser tests
        await page.fill("#username", "locked")
        await page.fill("#password", "wrong password")
        await page.click("#login-button")
        await expect(page.locator("#login-notice")).to_have_class("notice notice-error")
    await page.fill("#password", "locked-pass-1234")
    await page.click("#login-button")
    await expect(page.locator("#login-notice")).to_contain_text("locked")
    await expect(page.locator("#login-notice")).to_contain_text("Try again in")
    await screenshot(page, "login-locked-desktop")
    await page.goto(f"{gateway.url}/login.html?expired=1")
    await expect(page.locator("#login-notice")).to_have_text("Your session has expired. Please log in again.")
    watch.check()


async def test_create_a_session_scan_its_qr_and_see_working_without_reloading(browser: Browser,
                                                                               gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "admin")
    await page.evaluate("() => { window.__notReloaded = true; }")
    await page.click("#session-new-button")
    await page.fill("#session-name", "Sales 1")
    await page.fill("#session-id", SESSION)
    await page.click("#session-create-form button[type=submit]")
    dialog = page.locator("#qr-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#qr-image")).to_be_visible(timeout=20_000)
    assert (await page.get_attribute("#qr-image", "src") or "").startswith("data:image/png;base64,")
    await expect(page.locator("#qr-countdown")).to_contain_text("expires in")
    await expect(page.locator("#qr-status [data-status]")).to_have_text("SCAN_QR_CODE")
    await expect(page.locator("#session-token-value")).not_to_have_value("")
    assert await unlabelled_inputs(page) == []
    await both_sizes(page, "qr-code")

    status, body = gateway.post(f"/simulator/sessions/{SESSION}/scan", {"phone": PHONE_NUMBER, "push_name": "Popeye",
                                                                       "platform": "android"})
    assert status == 202, body
    await expect(page.locator("#qr-status [data-status]")).to_have_text("WORKING")
    await expect(page.locator("#qr-image")).to_be_hidden()
    await expect(page.locator("#qr-status")).to_contain_text(f"+{PHONE_NUMBER}")
    assert await page.evaluate("() => window.__notReloaded === true")
    await screenshot(page, "qr-linked-desktop")
    await page.click("#qr-close")
    card = page.locator(f"article[data-session='{SESSION}']")
    await expect(card.locator(".badge")).to_have_text("WORKING")
    await expect(card).to_contain_text(f"+{PHONE_NUMBER}")
    await expect(card).to_contain_text("Popeye")
    await expect(card).to_contain_text("android")
    await both_sizes(page, "sessions")
    watch.check()


async def test_send_by_keyboard_and_watch_the_message_reach_read(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/dashboard.html#send")
    await expect(page.locator("#send-session")).to_have_value(SESSION)
    assert await unlabelled_inputs(page) == []
    await focus_by_tab(page, "#send-to")
    await page.keyboard.type("12ab")
    await expect(page.locator("#send-to")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#send-to-hint")).to_contain_text("digits only")
    for _ in range(4):
        await page.keyboard.press("Backspace")
    await page.keyboard.type("+62 812-9876-5432")
    await expect(page.locator("#send-to")).to_have_attribute("aria-invalid", "false")
    await focus_by_tab(page, "#send-text")
    await page.keyboard.type("Halo from the dashboard")
    await page.evaluate(RECORD_STATUSES)
    await focus_by_tab(page, "#send-button")
    await page.keyboard.press("Enter")
    await expect(page.locator("#send-notice")).to_contain_text("queued")
    status = page.locator("#send-tracked [data-message-status]").first
    await expect(status).to_have_attribute("data-value", "read", timeout=20_000)
    seen: list[str] = await page.evaluate("() => window.__statuses")
    order = ["queued", "sending", "sent", "delivered", "read"]
    assert seen == sorted(seen, key=order.index) and seen[-1] == "read" and len(set(seen)) >= 3, seen
    await both_sizes(page, "send")

    await page.goto(f"{gateway.url}/dashboard.html#messages")
    await page.select_option("#filter-status", "read")
    await page.click("#messages-filter button[type=submit]")
    await expect(page.locator("#messages-table tbody tr")).to_have_count(1)
    await expect(page.locator("#messages-table")).to_contain_text("Halo from the dashboard")
    assert await unlabelled_inputs(page) == []
    await both_sizes(page, "messages")
    watch.check()


async def test_a_20_recipient_broadcast_reaches_100_percent(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/broadcast.html")
    await expect(page.locator("#bc-session")).to_have_value(SESSION)
    assert await unlabelled_inputs(page) == []
    numbers = [f"62813000000{i:02d}, Guest {i}" for i in range(20)]
    pasted = "\n".join([*numbers[:10], "12345, Too short", *numbers[10:], "not a number", numbers[3]])
    await page.fill("#bc-name", "Twenty guests")
    await page.fill("#bc-numbers", pasted)
    await page.fill("#bc-template", "Halo {name}, sampai jumpa!")
    await expect(page.locator("#bc-start-button")).to_be_disabled()
    await page.click("#bc-preview-button")
    await expect(page.locator("#bc-preview-summary")).to_contain_text("20 recipient(s) will get a message")
    await expect(page.locator("#bc-invalid tbody tr")).to_have_count(3)  # two invalid rows and one duplicate
    await expect(page.locator("#bc-invalid")).to_contain_text("duplicate of line 4")
    await expect(page.locator("#bc-samples")).to_contain_text("Halo Guest 0, sampai jumpa!")
    await both_sizes(page, "broadcast-preview")
    await page.click("#bc-start-button")
    await expect(page.locator("#bc-progress")).to_be_visible()
    await expect(page.locator("#bc-percent")).to_have_text("100 %", timeout=60_000)
    assert await page.locator("#bc-bar").evaluate("(bar) => bar.value") == 100
    await expect(page.locator("#bc-status [data-status]")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("#bc-recipients tbody tr")).to_have_count(20)
    await expect(page.locator("#bc-counts [data-count=failed]")).to_have_text("failed: 0")
    await asyncio.sleep(0.5)
    await both_sizes(page, "broadcast-progress")
    watch.check()


async def test_metrics_and_admin_views(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "admin")
    await page.goto(f"{gateway.url}/dashboard.html#metrics")
    for card in ("connection", "queue", "sent-today", "success", "broadcasts", "webhooks", "uptime", "memory", "cpu"):
        await expect(page.locator(f"#metric-{card}")).to_be_visible()
    await expect(page.locator("#metric-connection .metric-value")).to_have_text("connected")
    await expect(page.locator("#metric-success .metric-value")).to_have_text(re.compile(r"^100(\.0)? %$"))
    await expect(page.locator("#chart-messages svg")).to_be_visible()
    await expect(page.locator("#chart-contacts svg")).to_be_visible()
    assert await unlabelled_inputs(page) == []
    await both_sizes(page, "metrics")

    await page.goto(f"{gateway.url}/dashboard.html#admin")
    await expect(page.locator("#users-table tbody tr")).to_have_count(4)  # admin, operator, user, locked
    await page.fill("#key-name", "crm-bot")
    await page.click("#key-form button[type=submit]")
    await expect(page.locator("#key-once-value")).to_have_value(re.compile("^wag_"))
    await expect(page.locator("#keys-table")).to_contain_text("crm-bot")
    await page.click("#key-once-close")
    await expect(page.locator("#key-once")).to_be_hidden()
    await page.click("#audit-filter button[type=submit]")
    await expect(page.locator("#audit-table")).to_contain_text("session.create")
    assert await unlabelled_inputs(page) == []
    await both_sizes(page, "admin")
    watch.check()


async def test_a_view_only_user_finds_no_send_or_admin_controls(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "user")
    await expect(page.locator(f"article[data-session='{SESSION}'] .badge")).to_have_text("WORKING")
    assert await page.locator("#send-form, #send-button, #view-send, #view-admin").count() == 0
    await expect(page.locator("a[data-view=send]")).to_be_hidden()
    await expect(page.locator("a[data-view=admin]")).to_be_hidden()
    await expect(page.locator("a[href='/broadcast.html']")).to_be_hidden()
    await expect(page.locator("#session-new-button")).to_be_hidden()
    assert await page.locator("#session-list button").count() == 0
    await page.goto(f"{gateway.url}/dashboard.html#send")  # a typed URL falls back to what the role may see
    await expect(page.locator("#view-sessions")).to_be_visible()
    await both_sizes(page, "dashboard-user")
    token = gateway.token("user")  # and the server refuses the same, whatever the page shows
    status, body = gateway.post("/api/messages/send", {"session": SESSION, "to": PHONE_NUMBER, "message": "x"}, token)
    assert (status, body["message"]) == (403, "Permission denied: send_message required")
    status, _ = gateway.post(f"/api/sessions/{SESSION}/stop", {}, token)
    assert status == 403
    watch.check()


async def test_an_operator_sees_no_user_management(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await expect(page.locator("a[data-view=send]")).to_be_visible()
    await expect(page.locator("a[href='/broadcast.html']")).to_be_visible()
    await expect(page.locator("a[data-view=admin]")).to_be_hidden()
    assert await page.locator("#view-admin, #users-table, #user-form").count() == 0
    await expect(page.locator("#session-new-button")).to_be_hidden()
    await expect(page.locator(f"article[data-session='{SESSION}'] [data-action=stop]")).to_be_visible()
    assert await page.locator(f"article[data-session='{SESSION}'] [data-action=delete]").count() == 0
    token = gateway.token("operator")
    status, _ = gateway.call("GET", "/api/users", token=token)
    assert status == 403
    status, _ = gateway.call("GET", "/api/keys", token=token)
    assert status == 403
    watch.check()
