"""Bodies a careless or hostile client sends are refused with 400 in the error shape, never a 500."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.identities import add_key, add_user, bearer, login
from wagate.db.enums import Role

NOT_UTF8 = b'{"name": "\xe3\x28"}'  # 0xe3 starts a three-byte sequence that 0x28 does not continue


async def test_a_json_body_that_is_not_utf8_is_a_400(client: TestClient,
                                                     db: async_sessionmaker[AsyncSession]) -> None:
    _, key = await add_key(db, Role.ADMIN)
    headers = {"x-api-key": key, "Content-Type": "application/json"}
    for method, path in (("POST", "/api/auth/login"), ("POST", "/api/auth/refresh"), ("POST", "/api/auth/logout"),
                         ("POST", "/api/users"), ("POST", "/api/keys"), ("POST", "/api/messages/send"),
                         ("POST", "/api/messages/send-bulk"), ("POST", "/api/sessions"),
                         ("PUT", "/api/sessions/s1/settings"), ("POST", "/api/webhooks"),
                         ("POST", "/api/whatsapp/restart"), ("POST", "/simulator/sessions/s1/scan"),
                         ("POST", "/simulator/not-on-whatsapp")):
        response = await client.request(method, path, data=NOT_UTF8, headers=headers)
        assert response.status == 400, (method, path, await response.text())
        body = await response.json()
        assert body["success"] is False and "UTF-8" in body["message"], (method, path, body)


async def test_a_password_longer_than_bcrypt_takes_is_refused_not_a_500(client: TestClient,
                                                                        db: async_sessionmaker[AsyncSession]) -> None:
    await add_user(db, "root", Role.ADMIN)
    headers = bearer((await login(client, "root"))["access_token"])
    too_long = "é" * 37  # 37 characters, 74 bytes: bcrypt takes 72
    response = await client.post("/api/users", headers=headers, json={"username": "olga", "password": too_long})
    assert response.status == 400
    assert "72 bytes" in (await response.json())["details"]["password"][0]
    response = await client.post("/api/users", headers=headers, json={"username": "olga", "password": "é" * 36})
    assert response.status == 201  # exactly 72 bytes is fine
    response = await client.post("/api/auth/change-password", headers=headers,
                                 json={"old_password": "correct horse battery", "new_password": too_long})
    assert response.status == 400


async def test_a_multipart_body_that_does_not_parse_is_a_400(client: TestClient,
                                                             db: async_sessionmaker[AsyncSession]) -> None:
    _, key = await add_key(db, Role.ADMIN)
    boundary = "44c31e9d8d61c1217cfe91ce07fa3663"
    broken = f"--{boundary}\r\n\x06\u9415\u00e4--{boundary}--\r\n".encode()  # a part whose header line is garbage
    headers = {"x-api-key": key, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    for path in ("/api/messages/send", "/api/broadcast", "/api/broadcast/preview"):
        response = await client.post(path, data=broken, headers=headers)
        assert response.status == 400, (path, await response.text())
        body = await response.json()
        assert body["success"] is False and body["message"] == "Malformed multipart body", (path, body)
