"""The dashboard's files from `public/`: the pages at `/<page>.html`, their assets under `/css`, `/js` and `/img`.

`/` stays the JSON service info; `/login`, `/dashboard` and `/broadcast` redirect to their pages. Content types
are set here, not guessed from the machine's mime.types, because a browser refuses an ES module served as
anything but JavaScript. The files have no version in their names, so every answer is `no-cache`: the browser
keeps its copy but asks again each time, and the ETag / Last-Modified answer is a cheap 304 until a deploy
changes the file (nginx serves the assets itself in production; see nginx.conf).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

routes = web.RouteTableDef()

PUBLIC_DIR = Path(__file__).resolve().parents[3] / "public"
PAGES = ("login", "dashboard", "broadcast")
ASSET_FOLDERS = ("css", "js", "img")
CONTENT_TYPES = {
    ".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json",
    ".webmanifest": "application/manifest+json", ".woff2": "font/woff2",
}
NAME = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9]+)+"  # plain names only: no dot-files, no "..", no folders


def file_response(path: Path) -> web.FileResponse:
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is None or not path.is_file():
        raise web.HTTPNotFound()
    response = web.FileResponse(path, headers={"Cache-Control": "no-cache"})
    response.content_type = content_type
    if content_type.startswith("text/") or content_type.endswith(("json", "xml")):
        response.charset = "utf-8"
    return response


async def page(request: web.Request) -> web.StreamResponse:
    return file_response(PUBLIC_DIR / request.path.lstrip("/"))


async def page_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{request.path}.html")


async def asset(request: web.Request) -> web.StreamResponse:
    folder = request.path.split("/")[1]
    return file_response(PUBLIC_DIR / folder / request.match_info["name"])


async def favicon(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/img/favicon.svg")


for _page in PAGES:
    routes.get(f"/{_page}.html")(page)
    routes.get(f"/{_page}")(page_redirect)
for _folder in ASSET_FOLDERS:
    routes.get(f"/{_folder}/{{name:{NAME}}}")(asset)
routes.get("/favicon.ico")(favicon)
