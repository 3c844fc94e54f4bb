"""The OpenAPI document: every served route is in it, it validates as OpenAPI 3.1, and it is served publicly."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from wagate.config import Settings
from wagate.web import openapi
from wagate.web.app import create_app
from wagate.web.auth import required_permissions


def test_every_route_of_the_app_is_documented(settings: Settings) -> None:
    """Fails for a new route until its line is added to `wagate.web.openapi.OPERATIONS`."""
    for transport in ("simulator", "neonize"):
        app = create_app(settings.replace(wa_transport=transport))
        missing = openapi.undocumented(app)
        assert missing == [], f"routes missing from wagate/web/openapi.py OPERATIONS: {missing}"


def test_no_operation_is_listed_twice() -> None:
    keys = [(op.method, op.path) for op in openapi.OPERATIONS]
    assert len(keys) == len(set(keys))


def test_the_document_is_valid_openapi_and_matches_the_router(settings: Settings) -> None:
    app = create_app(settings)
    document = openapi.document(app)
    validate(document)
    assert document["openapi"].startswith("3.1")
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    for method, path in openapi.served(app):
        if method == "*":
            assert all((m.upper(), path) in listed for m in openapi.ANY_METHODS), path
        else:
            assert (method, path) in listed, (method, path)
    assert set(document["components"]["securitySchemes"]) >= {"jwt", "apiKey", "apiKeyBearer", "internalKey",
                                                              "sessionToken"}
    send = document["paths"]["/api/messages/send"]["post"]
    assert {"jwt": []} in send["security"] and {"apiKey": []} in send["security"]
    assert set(send["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"202", "413", "415"} <= set(send["responses"])


def test_simulator_routes_are_left_out_with_the_real_transport(settings: Settings) -> None:
    document = openapi.document(create_app(settings.replace(wa_transport="neonize")))
    validate(document)
    assert not [path for path in document["paths"] if path.startswith("/simulator/")]


async def test_served_without_credentials(client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document: dict[str, Any] = await response.json()
    validate(document)
    assert "/api/messages/send" in document["paths"] and "/api/openapi.json" in document["paths"]


def test_the_documented_permission_is_the_one_each_route_enforces(settings: Settings) -> None:
    """The spec's `permission` of a route is what its `require` checks (they disagreed on /api/keys)."""
    app = create_app(settings)
    documented = {(op.method, op.path): op.permission for op in openapi.OPERATIONS}
    checked = 0
    for route in app.router.routes():
        required = required_permissions(route.handler)
        if not required or route.resource is None or route.method == "HEAD":
            continue
        key = (route.method, route.resource.canonical)
        assert {documented[key]} == {p.value for p in required}, key
        checked += 1
    assert checked > 50  # the walk saw the guarded routes, not an empty router
    handlers = {(r.method, r.resource.canonical): r.handler for r in app.router.routes() if r.resource is not None}
    unguarded = [key for key, permission in documented.items()
                 if permission and key in handlers and not required_permissions(handlers[key])]
    assert unguarded == [("GET", "/metrics")]  # admin, or METRICS_ALLOW_IPS without credentials: checked inside
    assert documented[("GET", "/api/keys")] == "user_management"
