"""wuzapi's /newsletter/list under /wa: the channels of the token's session, from its live connection (a real bridge
on the simulator), in whatsmeow's NewsletterMetadata JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.bridge.conftest import BRIDGE_ENV, start_bridge, wait_status
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import wz
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.queue.jobs import enqueue_session_command
from wagate.web.keys import REDIS


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **BRIDGE_ENV)


async def test_the_sessions_channels_are_listed_as_wuzapi_answers_them(client: TestClient, db: Db,
                                                                       settings: Settings) -> None:
    token = await session(db, "s1", (await tenant(db))[0], status=SessionStatus.STOPPED)
    refused = await wz(client, "GET", "/wa/newsletter/list", token, 409)  # not connected: nobody to ask
    assert "WORKING" in refused["error"]
    handle = await start_bridge(settings)
    try:
        await enqueue_session_command(client.app[REDIS], settings.bridge_shards, "s1", "start")
        await wait_status(db, "s1", SessionStatus.SCAN_QR_CODE)
        await handle.sim.scan("s1", phone="6281234567890")
        await wait_status(db, "s1", SessionStatus.WORKING)
        channel = handle.sim.add_channel("Info Toko", description="Kabar toko", subscribers=42, owner="s1")
        answer = await wz(client, "POST", "/wa/newsletter/list", token, 200)
        assert answer["data"] == {"Newsletter": [{
            "id": channel.jid, "state": {"type": "active"},
            "thread_metadata": {"invite": channel.invite_code, "name": {"text": "Info Toko"},
                                "description": {"text": "Kabar toko"}, "subscribers_count": "42",
                                "verification": "unverified"},
            "viewer_metadata": {"mute": "off", "role": "owner"}}]}
    finally:
        await handle.stop()
