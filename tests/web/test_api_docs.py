"""Swagger UI at /api/docs: served by the app itself (no CDN), every file it loads is ours, and it passes the CSP."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

from wagate.web.routes import docs


async def test_the_docs_page_loads_only_same_origin_files_and_no_inline_script(client: TestClient) -> None:
    response = await client.get("/api/docs")
    assert response.status == 200 and response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = await response.text()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert len(scripts) == 2 and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(not urlsplit(url).netloc for url in assets), assets  # nothing from another host
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in assets:
        asset = await client.get(url)
        assert asset.status == 200, url
        assert asset.content_type == types[url[url.rindex("."):]], url
        assert asset.headers["Content-Security-Policy"] == csp
    init = await (await client.get("/api/docs/swagger-init.js")).text()
    assert '"/api/openapi.json"' in init and "validatorUrl: null" in init


async def test_the_bundle_renders_openapi_3_1(client: TestClient) -> None:
    """Swagger UI 4 refuses an `openapi: 3.1.0` document ("Unable to render this definition"); 5 renders it."""
    assert int(re.search(r"swagger-ui-(\d+)\.", str(docs.SWAGGER_DIR)).group(1)) >= 5  # type: ignore[union-attr]
    document = await (await client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert {"/api/docs", "/api/docs/{name}"} <= set(document["paths"])


async def test_only_the_pages_files_are_served(client: TestClient) -> None:
    for name in ("index.html", "swagger-initializer.js", "swagger-ui-standalone-preset.js", "..%2Fopenapi.py",
                 "oauth2-redirect.html"):
        response = await client.get(f"/api/docs/{name}")
        assert response.status == 404, name
        assert (await response.json())["success"] is False
