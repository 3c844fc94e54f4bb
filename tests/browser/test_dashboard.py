"""The dashboard in headless Chromium against the real gateway: login, QR linking, sending, broadcast, roles.

The tests run in order and share the gateway: the session linked in the QR test is the one the later tests send
and broadcast from. Each page is screenshotted on a desktop and on a 375 px phone (test-artifacts/screenshots/).
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import segno
from playwright.async_api import Browser, Page, Route, expect

from tests.browser.conftest import (
    DESKTOP,
    PASSWORDS,
    PHONE,
    Gateway,
    Watch,
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
    # The token is shown once: nothing covers it until the operator says it is stored, then the QR dialog opens.
    await expect(page.locator("#session-token")).to_be_visible()
    await expect(page.locator("#session-token-value")).not_to_have_value("")
    dialog = page.locator("#qr-dialog")
    await page.wait_for_timeout(500)
    await expect(dialog).to_be_hidden()
    await page.click("#session-token-close")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#qr-image")).to_be_visible(timeout=20_000)
    assert (await page.get_attribute("#qr-image", "src") or "").startswith("data:image/png;base64,")
    await expect(page.locator("#qr-countdown")).to_contain_text("expires in")
    await expect(page.locator("#qr-status [data-status]")).to_have_text("SCAN_QR_CODE")
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


# --- what the audit of the dashboard asked for: safe redirects, silent refresh, session actions, QR rotation and
# pairing, CSV broadcasts with a start time and their controls, media sends. These run after the tests above.

OTHER_SITE = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


async def test_login_goes_on_only_to_a_path_of_this_site(browser: Browser, gateway: Gateway) -> None:
    elsewhere: list[str] = []

    async def other_site(route: Route) -> None:  # nothing leaves the machine; a visit is recorded and fails the test
        elsewhere.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<p>another site</p>")

    async def log_in_with_next(next_path: str) -> tuple[str, Watch]:
        page, watch = await open_page(browser)
        await page.context.route(OTHER_SITE, other_site)
        await page.goto(f"{gateway.url}/login.html?next={quote(next_path, safe='')}")
        await page.fill("#username", "operator")
        await page.fill("#password", PASSWORDS["operator"])
        await page.click("#login-button")
        await page.wait_for_url(lambda url: "/login.html" not in url)
        if page.url.startswith(gateway.url):
            await expect(page.locator("#live-state")).to_have_text("Live")
        return page.url, watch

    # `/\evil` and `/<tab>/evil` are `//evil` once the browser has read them; each login in its own browser context
    cases = {"/\\evil.example": "/dashboard.html", "//evil.example/x": "/dashboard.html",
             "/\t/evil.example": "/dashboard.html", "https://evil.example/": "/dashboard.html",
             "/dashboard.html#metrics": "/dashboard.html#metrics"}
    landed = await asyncio.gather(*(log_in_with_next(path) for path in cases))
    assert [url for url, _ in landed] == [gateway.url + where for where in cases.values()]
    assert elsewhere == []
    for _, watch in landed:
        watch.check()


async def until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    """Wait for something the page does not show (a frame it sent), checking every 50 ms."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_page_never_holds_the_refresh_token(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    answers: list[dict[str, Any]] = []

    async def read_answer(route: Route) -> None:  # the login answer as the page's script receives it
        response = await route.fetch()
        answers.append(await response.json())
        await route.fulfill(response=response)

    await page.route("**/api/auth/login", read_answer)
    await login(page, gateway, "operator")
    [answer] = answers
    assert answer["data"]["access_token"] and "refresh_token" not in answer["data"]
    [cookie] = [c for c in await page.context.cookies() if c["name"] == "wagate_refresh"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api/auth"
    assert await page.evaluate("() => document.cookie") == ""  # and no script can read the cookie
    watch.check()


async def test_the_token_is_refreshed_silently_and_a_revoked_login_ends_on_the_login_page(
        browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    watch.allow("/api/auth/refresh", 401)
    auth_frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: auth_frames.append(str(frame))))
    await page.clock.install()  # the page's timers run on a clock the test can move on; time still flows
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/dashboard.html#messages")
    await expect(page.locator("#live-state")).to_have_text("Live")
    await expect(page.locator("#messages-table table")).to_be_visible()

    # ACCESS_TOKEN_TTL=60: the page asks for a new token before it expires (48 s), with nobody touching it
    async with page.expect_response("**/api/auth/refresh") as answer:
        await page.clock.fast_forward(50_000)
    refreshed = await answer.value
    assert refreshed.ok
    refreshed_data = (await refreshed.json())["data"]
    assert "refresh_token" not in refreshed_data  # the rotated token went into the cookie only
    token = refreshed_data["access_token"]
    async with page.expect_request("**/api/messages?*") as asked:  # and goes on working with it
        await page.click("#messages-filter button[type=submit]")
    request = await asked.value
    assert request.headers["authorization"] == f"Bearer {token}"
    assert (response := await request.response()) is not None and response.status == 200
    await expect(page.locator("#messages-table table")).to_be_visible()
    await until(lambda: any(token in frame for frame in auth_frames))  # the socket's renewed too
    assert page.url.endswith("/dashboard.html#messages")

    status, _ = gateway.post("/api/auth/logout", {}, token=token)  # the login is revoked elsewhere
    assert status == 200
    async with page.expect_response("**/api/auth/refresh") as answer:
        await page.clock.fast_forward(50_000)
    assert (await answer.value).status == 401
    await page.wait_for_url("**/login.html?**")
    await expect(page.locator("#login-notice")).to_have_text("Your session has expired. Please log in again.")
    await page.fill("#username", "operator")
    await page.fill("#password", PASSWORDS["operator"])
    await page.click("#login-button")
    await page.wait_for_url(f"{gateway.url}/dashboard.html#messages")  # back where the session ended
    await expect(page.locator("#view-messages")).to_be_visible()
    watch.check()


# Every status a session's card shows, in order, as the page changes it.
RECORD_CARD = """(id) => {
  window.__cardStatuses = [];
  const note = () => {
    const card = document.querySelector(`article[data-session="${id}"]`);
    const value = card ? card.dataset.status : 'gone';
    const seen = window.__cardStatuses;
    if (seen[seen.length - 1] !== value) seen.push(value);
  };
  note();
  new MutationObserver(note).observe(document.querySelector('#session-list'), {subtree: true, childList: true,
                                                                             attributes: true});
}"""


async def test_session_settings_and_actions_show_in_the_list_live(browser: Browser, gateway: Gateway) -> None:
    sid = "ops-1"
    page, watch = await open_page(browser)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))  # the confirms of log out and delete
    list_reads: list[str] = []
    page.on("request", lambda r: list_reads.append(r.url) if r.method == "GET" and urlsplit(r.url).path
            == "/api/sessions" else None)
    await login(page, gateway, "admin")
    status, body = gateway.post("/api/sessions", {"id": sid, "name": "Ops 1", "auto_connect": True},
                                token=gateway.token("admin"))
    assert status == 201, body
    card = page.locator(f"article[data-session='{sid}']")
    await expect(card).to_have_attribute("data-status", "SCAN_QR_CODE")
    status, body = gateway.post(f"/simulator/sessions/{sid}/scan", {"phone": "6281300000999", "push_name": "Olive"})
    assert status == 202, body
    await expect(card).to_have_attribute("data-status", "WORKING")
    await expect(card).to_contain_text("+6281300000999")

    # settings: saved, then read back from the server when the dialog opens again
    await card.locator("[data-action=settings]").click()
    dialog = page.locator("#settings-dialog")
    await expect(page.locator("#settings-events input")).to_have_count(27)
    await expect(page.locator("#settings-proxy-current")).to_have_text("Now: direct")
    assert await unlabelled_inputs(page) == []
    await page.check("#settings-autoread")
    await page.check("#settings-typing")
    await page.fill("#settings-webhook", "https://93.184.215.14/wa/ops-1")
    await page.check("#settings-event-message-received")
    await page.check("#settings-event-broadcast-completed")
    await page.check("#settings-reject-calls")
    await page.fill("#settings-call-message", "Maaf, tidak menerima telepon")
    await both_sizes(page, "session-settings")
    await dialog.locator("button[type=submit]").click()
    await expect(page.locator("#settings-notice")).to_have_text("Settings saved.")
    await page.click("#settings-close")
    await card.locator("[data-action=settings]").click()
    await expect(page.locator("#settings-webhook")).to_have_value("https://93.184.215.14/wa/ops-1")
    await expect(page.locator("#settings-autoread")).to_be_checked()
    await expect(page.locator("#settings-typing")).to_be_checked()
    await expect(page.locator("#settings-reject-calls")).to_be_checked()
    await expect(page.locator("#settings-call-message")).to_have_value("Maaf, tidak menerima telepon")
    checked = await page.eval_on_selector_all("#settings-events input:checked", "(inputs) => inputs.map(i => i.value)")
    assert checked == ["message.received", "broadcast.completed"]
    await page.click("#settings-close")
    status, body = gateway.call("GET", f"/api/sessions/{sid}/settings", token=gateway.token("admin"))
    assert (body["data"]["auto_read_enabled"], body["data"]["typing_enabled"], body["data"]["webhook_events"]) == (
        True, True, ["message.received", "broadcast.completed"]), body
    assert (body["data"]["reject_calls"], body["data"]["proxy_url"]) == (True, None), body

    # From here on the card follows the WebSocket alone: session.status for the status, connection.open for the
    # phone's details. Neither a status change nor the passing of time re-reads the list.
    await page.evaluate(RECORD_CARD, sid)
    reads = len(list_reads)
    await card.locator("[data-action=stop]").click()
    await expect(card).to_have_attribute("data-status", "STOPPED")
    await expect(card.locator("[data-action=start]")).to_be_visible()
    await asyncio.sleep(2)  # a polling loop would show here
    assert list_reads[reads:] == []

    # The card's recorded statuses, once it is WORKING again after having left it (the QR dialog and the card
    # show WORKING before a restart has even begun, so waiting for the text alone proves nothing).
    back_to_working = "(n) => { const s = window.__cardStatuses; return s.length > n && s.at(-1) === 'WORKING'; }"

    await card.locator("[data-action=start]").click()  # the linked phone reconnects: no QR code to scan
    await page.wait_for_function(back_to_working, arg=2)
    await expect(page.locator("#qr-status [data-status]")).to_have_text("WORKING")
    await page.click("#qr-close")
    after_start = len(await page.evaluate("() => window.__cardStatuses"))
    await card.locator("[data-action=restart]").click()
    await page.wait_for_function(back_to_working, arg=after_start)
    await expect(page.locator("#qr-status [data-status]")).to_have_text("WORKING")
    await page.click("#qr-close")
    await expect(card).to_have_attribute("data-status", "WORKING")
    seen = await page.evaluate("() => window.__cardStatuses")
    # Start and restart each go through STARTING (a restart through STOPPED first); on a loaded machine two status
    # events can land in one rendering of the list, so not every step is always shown, never one out of place.
    assert seen[:2] == ["WORKING", "STOPPED"] and seen[-1] == "WORKING" and "STARTING" in seen[2:], seen
    assert set(seen) <= {"WORKING", "STOPPED", "STARTING"}, seen

    await expect(card).to_contain_text("+6281300000999")
    await card.locator("[data-action=logout]").click()
    await expect(card).to_have_attribute("data-status", "LOGGED_OUT")
    assert list_reads[reads:] == []
    await card.locator("[data-action=delete]").click()
    await expect(card).to_have_count(0)
    await expect(page.locator("#page-notice")).to_have_text(f"Session {sid} deleted.")
    status, _ = gateway.call("GET", f"/api/sessions/{sid}", token=gateway.token("admin"))
    assert status == 404
    assert len(list_reads[reads:]) == 1, list_reads  # the delete's own re-read of the list, and nothing since
    watch.check()


async def test_the_qr_code_rotates_and_a_phone_number_gets_a_pairing_code(browser: Browser,
                                                                          gateway: Gateway) -> None:
    sid = "pair-1"
    page, watch = await open_page(browser)
    await login(page, gateway, "admin")
    status, body = gateway.post("/api/sessions", {"id": sid, "name": "Pair 1", "auto_connect": True},
                                token=gateway.token("admin"))
    assert status == 201, body
    card = page.locator(f"article[data-session='{sid}']")
    await card.locator("[data-action=qr]").click()
    image = page.locator("#qr-image")
    await expect(image).to_have_attribute("src", re.compile("^data:image/png;base64,"))
    first = await image.get_attribute("src")

    await page.fill("#pair-phone", "+62 813-0000-0777")
    await page.click("#pair-form button[type=submit]")
    code = page.locator("#pair-code strong.code")
    await expect(code).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    assert await image.get_attribute("src") == first  # the pairing code leaves the QR code as it was
    await both_sizes(page, "qr-pairing-code")

    await expect(image).not_to_have_attribute("src", first, timeout=15_000)  # the simulator's next code (7.5 s)
    assert (await image.get_attribute("src") or "").startswith("data:image/png;base64,")
    await expect(page.locator("#qr-countdown")).to_contain_text("expires in")

    status, body = gateway.post(f"/simulator/sessions/{sid}/pair-code", {"code": await code.inner_text(),
                                                                        "push_name": "Wimpy"})
    assert status == 202, body
    await expect(page.locator("#qr-status [data-status]")).to_have_text("WORKING")
    await expect(page.locator("#qr-status")).to_contain_text("+6281300000777")
    await page.click("#qr-close")
    status, _ = gateway.call("DELETE", f"/api/sessions/{sid}", token=gateway.token("admin"))
    assert status == 200
    await expect(card).to_have_count(0)
    watch.check()


async def test_a_csv_broadcast_scheduled_then_paused_resumed_and_cancelled(browser: Browser,
                                                                           gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))  # the confirm of cancel
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/broadcast.html")
    await expect(page.locator("#bc-session option[value='sales-1']")).to_have_count(1)
    await page.select_option("#bc-session", SESSION)
    await page.fill("#bc-name", "Scheduled from CSV")
    await page.check("#bc-source-file")
    await expect(page.locator("#bc-numbers")).to_be_hidden()
    csv = "phone,name,city\n6281400000001,Ana,Bandung\n6281400000002,Budi,Medan\n12,Short,Nowhere\n"
    async with page.expect_file_chooser() as chooser:
        await page.click("#bc-file")
    await (await chooser.value).set_files({"name": "guests.csv", "mimeType": "text/csv", "buffer": csv.encode()})
    await page.fill("#bc-template", "Halo {name} dari {city}")
    later = await page.evaluate("""() => {  // an hour from now, as the datetime-local input takes it
      const d = new Date(Date.now() + 3600e3);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    }""")
    await page.fill("#bc-start", later)
    await page.click("#bc-preview-button")
    await expect(page.locator("#bc-preview-summary")).to_contain_text("2 recipient(s) will get a message")
    await expect(page.locator("#bc-samples")).to_contain_text("Halo Ana dari Bandung")
    await expect(page.locator("#bc-invalid tbody tr")).to_have_count(1)
    await page.click("#bc-start-button")
    await expect(page.locator("#bc-notice")).to_have_text("Broadcast “Scheduled from CSV” scheduled.")
    state = page.locator("#bc-status [data-status]")
    await expect(state).to_have_text("scheduled")
    await expect(page.locator("#bc-counts [data-count=total]")).to_have_text("total: 2")
    await both_sizes(page, "broadcast-scheduled")

    await page.click("#bc-pause")
    await expect(state).to_have_text("paused")
    await expect(page.locator("#bc-pause")).to_be_hidden()
    await page.click("#bc-resume")
    await expect(state).to_have_text("scheduled")
    await page.click("#bc-cancel")
    await expect(state).to_have_text("cancelled")
    for button in ("#bc-pause", "#bc-resume", "#bc-cancel"):
        await expect(page.locator(button)).to_be_hidden()
    status, body = gateway.call("GET", "/api/broadcast?limit=1", token=gateway.token("operator"))
    newest = body["data"]["items"][0]
    assert (newest["name"], newest["status"], newest["total"]) == ("Scheduled from CSV", "cancelled", 2), newest
    await expect(page.locator("#bc-list")).to_contain_text("Scheduled from CSV")
    watch.check()


async def test_send_an_image_and_watch_it_reach_read(browser: Browser, gateway: Gateway) -> None:
    picture = io.BytesIO()
    segno.make("WA-Gate").save(picture, kind="png", scale=4)
    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/dashboard.html#send")
    await page.select_option("#send-session", SESSION)
    await page.fill("#send-to", "6281298765432")
    await page.check("#send-kind-media")
    await expect(page.locator("#send-text")).to_be_hidden()
    async with page.expect_file_chooser() as chooser:
        await page.click("#send-file")
    await (await chooser.value).set_files({"name": "qr.png", "mimeType": "image/png", "buffer": picture.getvalue()})
    await expect(page.locator("#send-file-hint")).to_contain_text("qr.png")
    await page.fill("#send-caption", "Our code")
    assert await unlabelled_inputs(page) == []
    async with page.expect_response("**/api/messages/send") as answer:
        await page.click("#send-button")
    sent = (await (await answer.value).json())["data"]
    assert (sent["type"], sent["to"]) == ("image", "6281298765432"), sent
    row = page.locator(f"#send-tracked tr[data-message-id='{sent['id']}']")
    await expect(row).to_contain_text("📎")
    await expect(row.locator("[data-message-status]")).to_have_attribute("data-value", "read", timeout=20_000)
    watch.check()


async def test_send_a_poll_a_contact_and_a_location_from_the_form(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/dashboard.html#send")
    await page.select_option("#send-session", SESSION)
    await page.fill("#send-to", "6281298765432")
    await page.check("#send-kind-poll")
    await expect(page.locator("#send-text")).to_be_hidden()
    await page.click("#send-button")
    await expect(page.locator("#send-notice")).to_contain_text("Write the question")
    await page.fill("#send-question", "Rapat jam?")
    await page.fill("#send-options", "09.00\n13.00\n")
    await page.check("#send-multiple")
    assert await unlabelled_inputs(page) == []
    async with page.expect_response("**/api/messages/send") as answer:
        await page.click("#send-button")
    poll = (await (await answer.value).json())["data"]
    assert (poll["type"], poll["content"]) == ("poll", {"question": "Rapat jam?", "options": ["09.00", "13.00"],
                                                        "selectable": 0}), poll

    await page.check("#send-kind-contact")
    await page.fill("#send-contact-name", "Budi")
    await page.fill("#send-contact-phone", "+62 812-1111-2222")
    async with page.expect_response("**/api/messages/send") as answer:
        await page.click("#send-button")
    contact = (await (await answer.value).json())["data"]
    await expect(page.locator(f"#send-tracked tr[data-message-id='{contact['id']}']")).to_contain_text("Budi")

    await page.check("#send-kind-location")
    await page.fill("#send-latitude", "-6.1754")
    await page.fill("#send-longitude", "106.8272")
    await page.fill("#send-place", "Monas")
    async with page.expect_response("**/api/messages/send") as answer:
        await page.click("#send-button")
    place = (await (await answer.value).json())["data"]
    assert place["content"] == {"latitude": -6.1754, "longitude": 106.8272, "name": "Monas"}, place
    for sent in (poll, contact, place):
        row = page.locator(f"#send-tracked tr[data-message-id='{sent['id']}'] [data-message-status]")
        await expect(row).to_have_attribute("data-value", "read", timeout=20_000)
    await both_sizes(page, "send-kinds")
    watch.check()
