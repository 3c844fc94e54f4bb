"""The dashboard's Groups view in headless Chromium against the real gateway (web, bridge and worker processes on the
simulator): an operator creates a group with participants, manages its members with WhatsApp's answer per person,
sees another member's change arrive live, changes its settings; a view-only user reads and finds no controls."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import Gateway, login, open_page, unlabelled_inputs
from tests.browser.test_dashboard import both_sizes

pytestmark = pytest.mark.browser

SESSION = "groups-1"
OWN, FRIEND, PRIVATE, NEWBIE = "6281200000001", "6281311112222", "6281333334444", "6281377778888"


def _linked_session(gateway: Gateway) -> None:
    """A session of its own, linked by the simulated phone (the QR screens are test_dashboard's)."""
    status, body = gateway.post("/api/sessions", {"session_id": SESSION, "name": "Groups"}, gateway.token("admin"))
    assert status == 201, body
    deadline = time.monotonic() + 30
    while True:
        status, body = gateway.post(f"/simulator/sessions/{SESSION}/scan", {"phone": OWN})
        if status == 202 and body["data"]["done"]:
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


async def test_an_operator_creates_and_manages_a_group(browser: Browser, gateway: Gateway) -> None:
    _linked_session(gateway)
    status, body = gateway.post(f"/simulator/sessions/{SESSION}/groups/privacy", {"phone": PRIVATE})
    assert status == 202, body

    page, watch = await open_page(browser)
    await login(page, gateway, "operator")
    await page.goto(f"{gateway.url}/dashboard.html#groups")
    await page.select_option("#groups-session", SESSION)
    await expect(page.locator("#groups-table")).to_contain_text("no group yet")
    assert await unlabelled_inputs(page) == []

    await page.fill("#group-subject", "Pelanggan VIP")
    await page.fill("#group-participants", f"+62 813-1111-2222\n{NEWBIE}")
    await page.click("#group-create-form button[type=submit]")
    await expect(page.locator("#group-create-notice")).to_contain_text("created with 3 member(s)")
    await expect(page.locator("#groups-table tbody tr")).to_have_count(1)
    detail = page.locator("#group-detail")
    await expect(detail).to_be_visible()
    await expect(page.locator("#group-detail-title")).to_have_text("Pelanggan VIP")
    await expect(page.locator("#group-invite")).to_contain_text("https://chat.whatsapp.com/")
    await expect(page.locator("#group-members tbody tr")).to_have_count(3)

    # WhatsApp's answer per person: one added, one whose privacy needs an invite, one already in
    await page.fill("#group-add-numbers", f"{PRIVATE}, 6281399990000, {FRIEND}")
    await page.click("#group-add-form button[type=submit]")
    results = page.locator("#group-results li")
    await expect(results).to_have_count(3)
    await expect(page.locator("#group-results li[data-outcome=invited]")).to_contain_text(PRIVATE)
    await expect(page.locator("#group-results li[data-outcome=done]")).to_contain_text("6281399990000")
    await expect(page.locator("#group-results li[data-outcome=already_member]")).to_contain_text(FRIEND)
    await expect(page.locator("#group-members tbody tr")).to_have_count(4)

    await page.click(f"button:text('Promote {FRIEND}')")
    await expect(page.locator(f"#group-members tr[data-member='{FRIEND}']")).to_contain_text("admin")

    # another admin's change reaches the open page as an event, without a reload
    jid = await page.locator("#groups-table tbody tr").first.get_attribute("data-jid")
    status, body = gateway.post(f"/simulator/sessions/{SESSION}/groups/member-action", {
        "group": jid, "from": FRIEND, "action": "remove", "participants": [NEWBIE]})
    assert status == 202, body
    await expect(page.locator(f"#group-members tr[data-member='{NEWBIE}']")).to_have_count(0, timeout=10_000)

    await page.check("#group-announce")
    await page.fill("#group-new-subject", "Pelanggan Gold")
    await page.click("#group-settings-form button[type=submit]")
    await expect(page.locator("#group-detail-notice")).to_contain_text("saved")
    await expect(page.locator("#groups-table")).to_contain_text("admins send")
    await expect(page.locator("#groups-table")).to_contain_text("Pelanggan Gold")
    await expect(page.locator("#group-detail-title")).to_have_text("Pelanggan Gold")
    await both_sizes(page, "groups")
    watch.check()


async def test_a_view_only_user_reads_groups_without_controls(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    await login(page, gateway, "user")
    await page.goto(f"{gateway.url}/dashboard.html#groups")
    await page.select_option("#groups-session", SESSION)
    await expect(page.locator("#groups-table tbody tr")).to_have_count(1)
    await expect(page.locator("#group-create-form")).to_be_hidden()
    await page.click("#groups-table tbody tr button")
    await expect(page.locator("#group-members tbody tr")).to_have_count(3)
    assert await page.locator("#group-members button").count() == 0
    await expect(page.locator("#group-add-form")).to_be_hidden()
    await expect(page.locator("#group-settings-form")).to_be_hidden()
    await expect(page.locator("#group-invite")).to_be_hidden()  # an invite link lets anyone in: operators' only
    await both_sizes(page, "groups-user")
    token = gateway.token("user")  # and the server refuses the same, whatever the page shows
    status, body = gateway.post(f"/api/sessions/{SESSION}/groups", {"subject": "x"}, token)
    assert (status, body["message"]) == (403, "Permission denied: send_message required")
    watch.check()


async def test_a_group_message_names_its_sender_in_messages(browser: Browser, gateway: Gateway) -> None:
    status, body = gateway.post(f"/simulator/sessions/{SESSION}/inbound", {
        "from": FRIEND, "text": "Halo semua", "push_name": "Siti", "is_group": True})
    assert status == 202, body
    page, watch = await open_page(browser)
    await login(page, gateway, "user")
    await page.goto(f"{gateway.url}/dashboard.html#messages")
    await page.select_option("#filter-session", SESSION)
    await page.select_option("#filter-direction", "in")
    await page.click("#messages-filter button[type=submit]")
    await expect(page.locator("#messages-table tbody tr")).to_have_count(1)
    row = page.locator("#messages-table tbody tr").first
    await expect(row).to_contain_text("Siti: Halo semua")
    await expect(row).to_contain_text("@g.us")
    watch.check()
