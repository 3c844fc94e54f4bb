"""The broadcast API over real HTTP: CSV and JSON creation, preview, progress, recipients, pause/resume/cancel."""

from __future__ import annotations

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db, Rows
from wagate.db.enums import Role, SessionStatus
from wagate.db.models_delivery import Broadcast, BroadcastRecipient
from wagate.db.models_whatsapp import Message

CSV = ("\ufeffnomor;nama;kota\n08123456789;Budi;Bandung\nbukan nomor;X;Y\n0812-3456-789;Lagi;Solo\n"
       "0857 1111 2222;Siti;Medan\n")


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def test_a_csv_upload_creates_a_running_broadcast(client: TestClient, rows: Rows) -> None:
    await rows.session("sales-1")
    headers = await rows.key()
    form = FormData()
    form.add_field("name", "Promo Lebaran")
    form.add_field("template", "Halo {nama}, promo di {kota}!")
    form.add_field("file", CSV.encode(), filename="kontak.csv", content_type="text/csv")
    response = await client.post("/api/broadcast", headers=headers, data=form)
    body = await response.json()
    assert response.status == 201, body
    assert body["success"] is True and body["message"] == "Broadcast started"
    data = body["data"]
    assert (data["status"], data["total"], data["session"]) == ("running", 2, "sales-1")
    assert data["invalid"] == [{"line": 3, "phone": "bukan nomor", "reason": data["invalid"][0]["reason"]}]
    assert data["duplicates"] == [{"line": 4, "phone": "628123456789", "first_line": 2}]

    read = await (await client.get(f"/api/broadcast/{data['id']}", headers=headers)).json()
    assert read["data"]["progress"]["total"] == 2 and read["data"]["progress"]["pending"] == 2
    listed = await (await client.get("/api/broadcast?status=running", headers=headers)).json()
    assert [b["id"] for b in listed["data"]["items"]] == [data["id"]] and listed["data"]["total"] == 1
    recipients = await (await client.get(f"/api/broadcast/{data['id']}/recipients?status=pending",
                                         headers=headers)).json()
    assert [(r["phone"], r["name"], r["variables"]) for r in recipients["data"]["items"]] == [
        ("628123456789", "Budi", {"kota": "Bandung"}), ("6285711112222", "Siti", {"kota": "Medan"})]
    assert [a.action for a in await rows.audits()][-1] == "broadcast.create"


async def test_preview_creates_nothing(client: TestClient, rows: Rows) -> None:
    headers = await rows.key()
    response = await client.post("/api/broadcast/preview", headers=headers, json={
        "name": "Promo", "message": "Halo {name} {{kode}}",
        "recipients": [{"phone": "08123456789", "name": "Ani"}, {"phone": "12", "name": "Bad"}]})
    body = await response.json()
    assert response.status == 200, body
    assert body["data"]["samples"] == [{"line": 1, "phone": "628123456789", "name": "Ani", "text": "Halo Ani {kode}"}]
    assert body["data"]["invalid"][0]["line"] == 2
    assert await rows.count(Broadcast) == 0 and await rows.count(BroadcastRecipient) == 0


def _csv_form(data: bytes) -> FormData:
    form = FormData()
    form.add_field("name", "Promo")
    form.add_field("template", "Halo {nama} dari {kota}")
    form.add_field("file", data, filename="kontak.csv", content_type="text/csv")
    return form


async def test_a_csv_with_bad_rows_gets_a_report_of_exactly_what_was_skipped_and_why(
        client: TestClient, rows: Rows) -> None:
    headers = await rows.key()
    data = (b"nomor,nama,kota\n"
            b"08123456789,Budi,Bandung\n"  # 2: kept
            b"\n"  # 3: empty
            b"0812,Pendek,Solo\n"  # 4: too short to be a number
            b"bukan nomor,Teks,Medan\n"  # 5: not a number at all
            b"0812-3456-789,Lagi,Bogor\n"  # 6: line 2's number written another way
            b"0857 1111 2222,Siti,Jakarta, Selatan\n"  # 7: an unquoted comma, a value too many
            b" , , \n"  # 8: blank cells only
            b"0857 3333 4444,Andi,Depok\n")  # 9: kept
    response = await client.post("/api/broadcast/preview", headers=headers, data=_csv_form(data))
    body = await response.json()
    assert response.status == 200, body
    report = body["data"]
    assert report["total"] == 2
    assert [s["line"] for s in report["samples"]] == [2, 9]
    assert [(r["line"], r["phone"]) for r in report["invalid"]] == [
        (4, "0812"), (5, "bukan nomor"), (7, "0857 1111 2222")]
    assert "not a valid phone number" in report["invalid"][0]["reason"]
    assert "phone number" in report["invalid"][1]["reason"]
    assert report["invalid"][2]["reason"].startswith("has 4 values but the header names 3 columns")
    assert report["duplicates"] == [{"line": 6, "phone": "628123456789", "first_line": 2}]
    assert report["blank_lines"] == [3, 8]

    created = await client.post("/api/broadcast", headers=headers, data=_csv_form(data))  # no session: refused
    assert created.status == 400 and await rows.count(Broadcast) == 0

    latin1 = "nomor,nama\n08123456789,Jos\u00e9\n".encode("latin-1")
    refused = await client.post("/api/broadcast/preview", headers=headers, data=_csv_form(latin1))
    answer = await refused.json()
    assert refused.status == 400 and answer["success"] is False
    assert answer["details"]["file"] == ["is not UTF-8 text (byte 27)"]


async def test_unknown_variables_and_limits_are_refused_before_writing(client: TestClient, rows: Rows) -> None:
    tenant = await rows.tenant(max_messages=5, messages_sent=4)
    await rows.session("mine", tenant_id=tenant)
    headers = await rows.key(tenant_id=tenant)
    people = [{"phone": f"0812345678{i:02d}", "name": f"P{i}"} for i in range(2)]
    unknown = await client.post("/api/broadcast", headers=headers, json={
        "session": "mine", "name": "x", "template": "Halo {name} {voucher}", "recipients": people})
    assert unknown.status == 400 and "{voucher}" in (await unknown.json())["details"]["template"][0]
    over = await client.post("/api/broadcast", headers=headers, json={
        "session": "mine", "name": "x", "template": "Halo {name}", "recipients": people})
    assert over.status == 403 and "only 1 messages left" in (await over.json())["message"]
    viewer = await rows.key(Role.USER)
    assert (await client.post("/api/broadcast", headers=viewer, json={})).status == 403
    assert await rows.count(Broadcast) == 0


async def test_pause_resume_cancel(client: TestClient, rows: Rows) -> None:
    await rows.session("sales-1")
    headers = await rows.key()
    created = await (await client.post("/api/broadcast", headers=headers, json={
        "session": "sales-1", "name": "x", "template": "Halo {name}",
        "recipients": [{"phone": "08123456789", "name": "A"}]})).json()
    bid = created["data"]["id"]
    paused = await client.post(f"/api/broadcast/{bid}/pause", headers=headers)
    assert paused.status == 200 and (await paused.json())["data"]["status"] == "paused"
    assert (await client.post(f"/api/broadcast/{bid}/pause", headers=headers)).status == 409
    resumed = await client.post(f"/api/broadcast/{bid}/resume", headers=headers)
    assert (await resumed.json())["data"]["status"] == "running"
    cancelled = await client.post(f"/api/broadcast/{bid}/cancel", headers=headers)
    assert (await cancelled.json())["data"]["status"] == "cancelled"
    page = await (await client.get(f"/api/broadcast/{bid}/recipients?status=skipped", headers=headers)).json()
    assert [(r["status"], r["error"]) for r in page["data"]["items"]] == [("skipped", "broadcast cancelled")]
    assert [a.action for a in await rows.audits()][-3:] == ["broadcast.pause", "broadcast.resume", "broadcast.cancel"]
    assert await rows.count(Message) == 0  # cancelled before the worker expanded it


async def test_another_tenants_broadcast_is_not_found(client: TestClient, rows: Rows) -> None:
    mine, theirs = await rows.tenant("usr_a"), await rows.tenant("usr_b")
    await rows.session("theirs", tenant_id=theirs, status=SessionStatus.WORKING)
    owner = await rows.key(tenant_id=theirs)
    created = await (await client.post("/api/broadcast", headers=owner, json={
        "session": "theirs", "name": "x", "template": "Hi", "recipients": [{"phone": "08123456789"}]})).json()
    other = await rows.key(tenant_id=mine)
    assert (await client.get(f"/api/broadcast/{created['data']['id']}", headers=other)).status == 404
    assert (await client.post(f"/api/broadcast/{created['data']['id']}/cancel", headers=other)).status == 404
