"""The contacts and profile API through a real bridge on the simulator: numbers on WhatsApp, a contact's info,
picture and business profile, blocking, LID lookups, the session's own profile; every answer held to the document."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.bridge.conftest import BRIDGE_ENV
from tests.web.identities import add_key
from tests.web.tenancy import Db, reseller_settings
from tests.web.test_chats_api import PHONE, call, linked, sim
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_identity import AuditLog
from wagate.db.models_whatsapp import WaSession
from wagate.transport.base import BusinessProfile
from wagate.transport.simulator import wire

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # enough of a JPEG for WhatsApp's type check
SHOP = "6281355556666"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, RATE_LIMIT_KEY_USER="none",
                             RATE_LIMIT_KEY_OPERATOR="none", RATE_LIMIT_DASHBOARD="none", **BRIDGE_ENV)


async def test_people_behind_numbers_blocks_and_lids(client: TestClient, db: Db, settings: Settings) -> None:
    handle, operator, user = await linked(client, db, settings)
    try:
        sim(handle).set_contact_profile(SHOP, about="Buka 08.00-17.00", picture=JPEG, verified_name="Toko Maju",
                                        business=BusinessProfile(jid=f"{SHOP}@s.whatsapp.net", email="a@toko.id",
                                                                 website=("https://toko.id",), category="Retail"))
        handle.sim.set_not_on_whatsapp("6281200000000")
        checked = (await call(client, "POST", "/api/contacts/check", user, 200,
                              {"session_id": "s1", "phones": ["+62 813-5555-6666", "6281200000000"]}))
        assert checked["data"] == [{"phone": SHOP, "on_whatsapp": True, "jid": f"{SHOP}@s.whatsapp.net"},
                                   {"phone": "6281200000000", "on_whatsapp": False, "jid": None}]
        assert checked["message"] == "1 of 2 number(s) on WhatsApp"
        bad = await call(client, "POST", "/api/contacts/check", user, 400, {"session_id": "s1", "phones": ["12"]})
        assert "12" in bad["details"]["phones"][0]

        info = (await call(client, "GET", f"/api/contacts/{SHOP}?session_id=s1", user, 200))["data"]
        assert (info["about"], info["verified_name"], info["lid"]) == ("Buka 08.00-17.00", "Toko Maju",
                                                                        wire.lid_for(SHOP))
        plain = (await call(client, "GET", f"/api/contacts/{PHONE}?session_id=s1", user, 200))["data"]
        assert plain["about"] == "Hey there! I am using WhatsApp." and plain["picture_id"] is None
        assert (await call(client, "GET", "/api/contacts/6281200000000?session_id=s1", user, 200))["data"] is None

        picture = (await call(client, "GET", f"/api/contacts/{SHOP}/picture?session_id=s1&preview=true", user,
                              200))["data"]
        assert picture["id"] == info["picture_id"] and picture["type"] == "preview" and picture["url"].startswith(
            "https://")
        assert (await call(client, "GET", f"/api/contacts/{PHONE}/picture?session_id=s1", user, 200))["data"] is None
        business = (await call(client, "GET", f"/api/contacts/{SHOP}/business?session_id=s1", user, 200))["data"]
        assert (business["email"], business["website"], business["category"]) == ("a@toko.id", ["https://toko.id"],
                                                                                   "Retail")
        assert (await call(client, "GET", f"/api/contacts/{PHONE}/business?session_id=s1", user, 200))["data"] is None

        await call(client, "POST", f"/api/contacts/{PHONE}/block", user, 403, {"session_id": "s1"})
        blocked = (await call(client, "POST", f"/api/contacts/{PHONE}/block", operator, 200, {"session_id": "s1"}))
        assert blocked["data"]["blocked"] == [f"{PHONE}@s.whatsapp.net"]
        listed = (await call(client, "GET", "/api/contacts/blocklist?session_id=s1", user, 200))["data"]
        assert listed["blocked"] == [f"{PHONE}@s.whatsapp.net"]
        assert (await call(client, "POST", f"/api/contacts/{PHONE}/unblock", operator, 200, {}))["data"][
            "blocked"] == []
        async with db() as s:
            actions = list(await s.scalars(select(AuditLog.action).where(AuditLog.action.like("contact.%"))
                                           .order_by(AuditLog.id)))
        assert actions == ["contact.block", "contact.unblock"]

        lid = wire.lid_for(SHOP)
        assert (await call(client, "GET", f"/api/contacts/lid?session_id=s1&phone={SHOP}", user, 200))["data"] == {
            "phone": f"{SHOP}@s.whatsapp.net", "lid": lid}
        assert (await call(client, "GET", f"/api/contacts/lid?session_id=s1&lid={lid}", user, 200))["data"] == {
            "phone": f"{SHOP}@s.whatsapp.net", "lid": lid}
        await call(client, "GET", f"/api/contacts/lid?session_id=s1&lid={lid}&phone={SHOP}", user, 400)
        await call(client, "GET", "/api/contacts/lid?session_id=s1&lid=abc", user, 400)
    finally:
        await handle.stop()


async def test_the_sessions_own_profile(client: TestClient, db: Db, settings: Settings) -> None:
    handle, operator, user = await linked(client, db, settings)
    try:
        async with db() as s:
            row = await s.get(WaSession, "s1")
        assert row is not None
        _, admin = await add_key(db, Role.ADMIN, tenant_id=row.tenant_id)
        await call(client, "PUT", "/api/sessions/s1/profile", operator, 403, {"about": "x"})  # the admin's
        changed = (await call(client, "PUT", "/api/sessions/s1/profile", admin, 200, {
            "push_name": "Hotel Melati", "about": "Reservasi 24 jam",
            "picture": base64.b64encode(JPEG).decode()}))["data"]
        assert changed["push_name"] == "Hotel Melati" and changed["about"] == "Reservasi 24 jam"
        own = (await call(client, "GET", "/api/sessions/s1/profile", user, 200))["data"]
        assert (own["phone"], own["push_name"], own["about"]) == ("6281234567890", "Hotel Melati", "Reservasi 24 jam")
        assert own["picture"]["id"] == changed["picture_id"]
        async with db() as s:
            assert (await s.get(WaSession, "s1")).push_name == "Hotel Melati"  # type: ignore[union-attr]
        png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
        refused = await call(client, "PUT", "/api/sessions/s1/profile", admin, 400, {"picture": png})
        assert refused["details"] == {"picture": ["expects a JPEG image"]}
        await call(client, "PUT", "/api/sessions/s1/profile", admin, 400, {})
        await call(client, "PUT", "/api/sessions/s1/profile", admin, 400, {"picture": "%%%"})
    finally:
        await handle.stop()
