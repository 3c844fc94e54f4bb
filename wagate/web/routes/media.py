"""`GET /api/media/{message id}`: a message's medium, for a caller of its tenant or the holder of a signed link.

With a valid `?exp=&sig=` (the link a `message.received` webhook carries) no key is needed; otherwise the caller
needs `view_logs` and, when bound to a tenant, the message must be one of its sessions' (another tenant's is 404).
A store that serves media itself (S3 with a public base URL or presigned URLs) gets a redirect; the local store's
bytes are streamed. A received medium not downloaded yet is fetched through the session's bridge first. `?as=link`
answers `{"url": …}` instead: the presigned URL, or a signed link to this route, for a browser to open.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.errors import Conflict, Forbidden
from wagate.queue.jobs import enqueue_session_command
from wagate.services.identity.principal import Permission
from wagate.services.media import links, serving
from wagate.services.media.store import media_stores
from wagate.services.sessions import lifecycle
from wagate.services.sessions.connecting import command_result
from wagate.web.auth import require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import ok, tenant_of

routes = web.RouteTableDef()

DOWNLOAD_WAIT_S = 60.0  # a first request may wait for WhatsApp's download of a large medium


@routes.get(r"/api/media/{message_id:\d+}")
async def get_medium(request: web.Request) -> web.StreamResponse:
    if "sig" in request.query or "exp" in request.query:
        message_id = int(request.match_info["message_id"])
        if not links.valid(request.app[SETTINGS], message_id, request.query.get("exp"), request.query.get("sig")):
            raise Forbidden("This media link is invalid or has expired; ask for the message again for a new one")
        return await _serve(request, message_id, None)
    return await _get_with_key(request)


@require(Permission.VIEW_LOGS)
async def _get_with_key(request: web.Request) -> web.StreamResponse:
    return await _serve(request, int(request.match_info["message_id"]), tenant_of(request))


async def _serve(request: web.Request, message_id: int, tenant_id: int | None) -> web.StreamResponse:
    app = request.app
    stores = media_stores(app[SETTINGS])
    try:
        served = await serving.message_medium(app[DB], stores, message_id, tenant_id)
    except serving.NotDownloaded as pending:
        settings = app[SETTINGS]
        session = await lifecycle.get_session(app[DB], pending.session_id)
        if session.status != SessionStatus.WORKING:  # only the session's live connection can download it
            raise Conflict(f"The medium is downloaded on request, and session {session.id!r} is {session.status}: "
                           "connect it first", {"status": str(session.status)}) from None
        job_id = await enqueue_session_command(app[REDIS], settings.bridge_shards, pending.session_id,
                                               "download_media", {"messageId": message_id})
        await command_result(app[REDIS], settings, pending.session_id, job_id, DOWNLOAD_WAIT_S)
        served = await serving.message_medium(app[DB], stores, message_id, tenant_id)
    if request.query.get("as") == "link":  # for a browser: a URL it can open without the caller's key
        url = served.redirect or links.signed_url(app[SETTINGS], message_id)
        if served.chunks is not None:
            await served.chunks.aclose()  # type: ignore[attr-defined]
        return ok("Media link", {"url": url, "mimetype": served.mimetype, "file_name": served.file_name})
    if served.redirect is not None:
        raise web.HTTPFound(served.redirect, headers={"Cache-Control": "private, no-store"})
    assert served.chunks is not None
    response = web.StreamResponse(headers={
        "Content-Type": served.mimetype,
        # A medium is never rendered as a page of this origin: no sniffing, and a sandbox if a browser tried.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(served.file_name or 'media')}",
        "Cache-Control": "private, max-age=300",
    })
    if served.size is not None:
        response.content_length = served.size
    await response.prepare(request)
    async for chunk in served.chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
