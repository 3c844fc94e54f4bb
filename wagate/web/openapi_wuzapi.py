"""The OpenAPI lines of wuzapi's API under `/wa` (wagate.web.routes.wuzapi), added to `openapi.OPERATIONS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wagate.schemas import wuzapi as wz
from wagate.schemas import wuzapi_people as wp
from wagate.web.routes.wuzapi.chat import MEDIA_ROUTES

ERRORS = (400, 401, 403, 409, 429)
SEND_ERRORS = (400, 401, 403, 409, 413, 415, 429)
# The other kinds: 404 for an `Id` naming no message of the session, 422 for an edit or delete of a received one,
# 503 without ffmpeg.
KIND_ERRORS = (*SEND_ERRORS, 404, 422, 503)
NOT_SERVED_ERRORS = (401, 403, 429, 501)
ASKED = (400, 401, 403, 409, 429, 502)  # asked of WhatsApp: 409 while not WORKING, 502 when it refused
ANY = "*"

# (method, path under /wa, summary) of the routes that answer 501 (see each module's table)
NOT_SERVED = (
    ("GET", "session/history", "Not served: history sync"),
    *[(ANY, f"chat/send/{name}", f"Not served: {name} messages") for name in ("template", "buttons", "list")],
    *[(ANY, f"chat/{name}", f"Not served: chat/{name}")
      for name in ("history", "downloadimage", "downloadvideo",
                   "downloadaudio", "downloaddocument")],
)


def wuzapi_operations(op: Callable[..., Any]) -> list[Any]:
    """The lines, made with `openapi.Op` (passed in: this module is imported by that one)."""

    def line(method: str, path: str, summary: str, answer: Any = None, body: Any = None,
             errors: tuple[int, ...] = ERRORS, optional_body: bool = False) -> Any:
        return op(method, f"/wa/{path}", summary, "wuzapi", "wuzapi", raw=True, data=answer, body=body,
                  errors=errors, optional_body=optional_body)

    return [
        line("POST", "session/connect", "Connect to WhatsApp; `Subscribe` sets the webhook's events, `Immediate` "
             "false waits up to 10 s for WhatsApp's answer", wz.ConnectAnswer, wz.ConnectBodySchema,
             optional_body=True, errors=(400, 401, 403, 409, 429, 502)),
        line("POST", "session/disconnect", "Disconnect, keeping the link", wz.DetailsAnswer),
        line("POST", "session/logout", "Log out: unlink the device", wz.DetailsAnswer),
        line("GET", "session/status", "Connected and LoggedIn", wz.StatusAnswer),
        line("GET", "session/qr", "The QR code to scan, as a PNG data URI (empty until WhatsApp sent one)",
             wz.QrAnswer),
        line("POST", "session/proxy", "Set (`enable` true, `proxy_url`) or clear the session's proxy; a running "
             "session restarts through it. `ProxyURL` is answered redacted", wz.ProxyAnswer, wz.ProxyBodySchema),
        line(ANY, "newsletter/list", "The channels the session follows (whatsmeow's NewsletterMetadata JSON)",
             wz.NewsletterListAnswer, errors=(401, 403, 409, 429, 502)),
        line("POST", "session/pairphone", "A linking code to type on the phone instead of scanning", wz.PairAnswer,
             wz.PhoneBodySchema, errors=(400, 401, 403, 409, 429, 502)),
        line("GET", "webhook", "The session's webhook and subscribed events", wz.WebhookAnswer),
        line("POST", "webhook", "Set the session's webhook (wuzapi's body)", wz.WebhookAnswer,
             wz.WebhookSetBodySchema),
        line("PUT", "webhook", "Update the webhook and events; `active` false clears them", wz.WebhookAnswer,
             wz.WebhookUpdateBodySchema),
        line("DELETE", "webhook", "Remove the webhook and its events", wz.DetailsAnswer),
        line("POST", "chat/send/text", "Queue a text message (`Id`: the WhatsApp id and idempotency key)",
             wz.SentAnswer, wz.SendTextBodySchema, errors=SEND_ERRORS),
        *[line("POST", f"chat/send/{name}", f"Queue {name} message: `{field}` as a data URI or an http(s) URL",
               wz.SentAnswer, wz.SendMediaBodySchema, errors=SEND_ERRORS)
          for name, (_, field) in MEDIA_ROUTES.items()],
        line("POST", "chat/send/location", "Queue a location message", wz.SentAnswer, wz.SendLocationBodySchema,
             errors=SEND_ERRORS),
        *[line("POST", f"chat/{path}", summary, wz.SentAnswer, body, errors=KIND_ERRORS) for path, summary, body in (
            ("send/sticker", "Queue a sticker (PNG or JPEG made a 512×512 WebP)", wz.SendStickerBodySchema),
            ("send/contact", "Queue a contact card (`Name`, `Vcard`)", wz.SendContactBodySchema),
            ("send/poll", "Queue a poll (`Header`, `Options`; one choice per voter)", wz.SendPollBodySchema),
            ("send/edit", "Queue an edit of a text sent within WhatsApp's 15 minutes", wz.EditBodySchema),
            ("delete", "Queue a delete for everyone of a message of this session", wz.DeleteBodySchema),
            ("react", "Queue a reaction (`Body` \"\" takes it back)", wz.ReactBodySchema))],
        line("POST", "user/check", "Which numbers are on WhatsApp", wz.CheckAnswer, wz.PhonesBodySchema,
             errors=(400, 401, 403, 409, 429, 502)),
        line("GET", "user/contacts", "The contacts, synced with the phone first when connected", wz.ContactsAnswer),
        line("POST", "user/info", "About text (`Status`), picture id, devices and verified name of numbers",
             wp.UsersAnswer, wp.PhoneListBodySchema, errors=ASKED),
        *[line(method, "user/avatar", "The profile picture's URL (404: none the session may see)", wp.AvatarAnswer,
               wp.AvatarBodySchema, errors=(*ASKED, 404)) for method in ("POST", "GET")],
        line("POST", "user/presence", "The session online (available) or offline (unavailable)", wz.DetailsAnswer,
             wp.PresenceBodySchema, errors=ASKED),
        *[line(method, "user/lid", "The LID of `Phone`, or the phone-number JID of a LID given as `Phone`",
               wp.LidAnswer, wz.PhoneBodySchema, errors=ASKED) for method in ("POST", "GET")],
        line("POST", "chat/markread", "Read receipts for `Id` in `Chat` (`Sender` in a group)", wz.DetailsAnswer,
             wp.MarkReadBodySchema, errors=ASKED),
        line("POST", "chat/presence", "Typing (`composing`), recording (`Media` audio) or `paused` in a chat",
             wz.DetailsAnswer, wp.ChatPresenceBodySchema, errors=ASKED),
        *[line(method, path, summary, errors=NOT_SERVED_ERRORS) for method, path, summary in NOT_SERVED],
    ]
