"""Swagger UI over `/api/openapi.json` at `GET /api/docs`, served from this process: no CDN, so it works offline.

The Swagger UI files come from the `swagger-ui-bundle-v2` package (Swagger UI 5, the first major version that
renders OpenAPI 3.1); the page and its initialiser are ours, in `wagate/web/docs/`. The initialiser is a file,
not an inline script, so the page passes the app's Content-Security-Policy (`script-src 'self'`) unchanged.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from wagate.web.routes.static import file_response

routes = web.RouteTableDef()

OWN_DIR = Path(__file__).resolve().parents[1] / "docs"
SWAGGER_DIR = Path(str(swagger_ui_path))
# Only the files the page loads; the bundle's own index.html and initialiser (which point at a petstore) are not served.
FILES = {
    "swagger-ui.css": SWAGGER_DIR, "swagger-ui-bundle.js": SWAGGER_DIR, "favicon-32x32.png": SWAGGER_DIR,
    "swagger-init.js": OWN_DIR,
}


@routes.get("/api/docs")
async def docs_page(request: web.Request) -> web.StreamResponse:
    return file_response(OWN_DIR / "index.html")


@routes.get("/api/docs/{name}")
async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    folder = FILES.get(name)
    if folder is None:
        raise web.HTTPNotFound()
    return file_response(folder / name)
