"""A newcomer's first minutes in the dashboard: the first visit, the menu on every page, the menu on a phone."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import PHONE, Gateway, login, open_page

pytestmark = pytest.mark.browser

MENU = ["Sessions", "Send", "Inbox", "Messages", "Groups", "Metrics", "Admin", "Broadcast"]  # what an admin may open


async def test_a_first_visit_is_asked_to_log_in_and_not_told_it_expired(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    watch.allow("/api/auth/refresh", 401)  # no login yet: the page's refresh is refused, as it should be
    await page.goto(f"{gateway.url}/dashboard.html")
    await page.wait_for_url("**/login.html?**")
    assert "expired" not in page.url
    await expect(page.locator("#username")).to_be_visible()
    await expect(page.locator("#login-notice")).not_to_contain_text("expired")

    await login(page, gateway, "operator")  # a login that then ends is "expired"
    await page.context.clear_cookies()  # the refresh cookie is gone: the next page's refresh is refused
    await page.goto(f"{gateway.url}/broadcast.html")
    await page.wait_for_url("**/login.html?**")
    await expect(page.locator("#login-notice")).to_have_text("Your session has expired. Please log in again.")

    await login(page, gateway, "operator")  # and one logged out on purpose is not
    await page.click("#logout-button")
    await page.wait_for_url("**/login.html?bye=1")
    await page.goto(f"{gateway.url}/dashboard.html")
    await page.wait_for_url("**/login.html?**")
    assert "expired" not in page.url
    watch.check()


async def _menu(page: Page) -> list[str]:
    return [text.strip() for text in await page.locator("nav.tabs a:visible").all_inner_texts()]


async def test_the_broadcast_page_has_the_dashboards_menu(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "admin")
    assert await _menu(page) == MENU
    await page.goto(f"{gateway.url}/broadcast.html")
    await expect(page.locator("#who-am-i")).to_contain_text("admin")
    assert await _menu(page) == MENU
    await page.click("nav.tabs a:has-text('Send')")
    await page.wait_for_url("**/dashboard.html#send")
    await expect(page.locator("#view-send")).to_be_visible()
    watch.check()


async def test_the_whole_menu_shows_on_a_375_px_phone(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser, PHONE)
    await login(page, gateway, "admin")
    for path in ("/dashboard.html#sessions", "/broadcast.html"):
        await page.goto(gateway.url + path)
        await expect(page.locator("#who-am-i")).to_contain_text("admin")
        assert await _menu(page) == MENU
        boxes = await page.locator("nav.tabs a:visible").evaluate_all(
            "(links) => links.map((a) => { const r = a.getBoundingClientRect(); return [r.left, r.right]; })")
        cut = [name for name, (left, right) in zip(MENU, boxes, strict=True) if left < 0 or right > PHONE["width"]]
        assert cut == [], f"{path}: menu entries cut off at 375 px: {cut}"
        overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways by {overflow} px at 375 px"
    watch.check()


async def test_a_session_card_counts_sent_today_and_says_what_that_is(browser: Browser, gateway: Gateway) -> None:
    status, body = gateway.post("/api/sessions", {"session_id": "fig-1", "auto_connect": False},
                                token=gateway.token("admin"))
    assert status == 201, body
    page, watch = await open_page(browser)
    await login(page, gateway, "admin")
    card = page.locator("article[data-session='fig-1']")
    term = card.locator("dt[title]")
    await expect(term).to_have_text("Sent today")
    definition = await term.get_attribute("title") or ""
    assert "WhatsApp accepted" in definition and "received" in definition, definition  # the server's own words
    await expect(card.locator("dt:has-text('Sent today') + dd")).to_have_text("0")
    watch.check()
