"""The documented shapes of the wuzapi API under `/wa` (wuzapi's API.md): its request bodies and its answers
`{"code": 200, "data": {…}, "success": true}`. The routes read bodies themselves, field names in any case as
wuzapi's Go decoder does (see wagate.web.routes.wuzapi.envelope); these schemas are for the OpenAPI document and
the tests that hold real answers to it."""

from __future__ import annotations

from marshmallow import Schema, fields

S, B, Int, F = fields.String, fields.Boolean, fields.Integer, fields.Float


def _answer(data: type[Schema] | fields.Field, name: str) -> type[Schema]:
    """wuzapi's success envelope around `data`."""
    value = data if isinstance(data, fields.Field) else fields.Nested(data, required=True)
    return Schema.from_dict({"code": Int(required=True), "data": value, "success": B(required=True)},
                            name=f"Wuzapi{name}Answer")


class ConnectBodySchema(Schema):
    Subscribe = fields.List(S())
    Immediate = B()


class PhoneBodySchema(Schema):
    Phone = S(required=True)


class PhonesBodySchema(Schema):
    Phone = fields.List(S(), required=True)


class WebhookSetBodySchema(Schema):
    webhookURL = S(required=True)
    events = fields.List(S())


class WebhookUpdateBodySchema(Schema):
    webhook = S()
    events = fields.List(S())
    active = B()


class ContextInfoSchema(Schema):
    StanzaId = S()
    Participant = S()


class SendTextBodySchema(Schema):
    Phone = S(required=True)
    Body = S(required=True)
    Id = S()
    ContextInfo = fields.Nested(ContextInfoSchema)


class SendMediaBodySchema(Schema):
    """`Image`, `Audio`, `Document` or `Video`: a data URI (`data:image/jpeg;base64,…`) or an http(s) URL."""

    Phone = S(required=True)
    Image = S()
    Audio = S()
    Document = S()
    Video = S()
    Caption = S()
    FileName = S()
    Id = S()
    ContextInfo = fields.Nested(ContextInfoSchema)


class SendLocationBodySchema(Schema):
    Phone = S(required=True)
    Latitude = F(required=True)
    Longitude = F(required=True)
    Name = S()
    Id = S()


class SendStickerBodySchema(Schema):
    """`Sticker`: a data URI or an http(s) URL of a WebP, PNG or JPEG image."""

    Phone = S(required=True)
    Sticker = S(required=True)
    PngThumbnail = S()
    Id = S()


class SendContactBodySchema(Schema):
    Phone = S(required=True)
    Name = S(required=True)
    Vcard = S(required=True)
    Id = S()


class SendPollBodySchema(Schema):
    """`Group` (or `Phone`) to send to, `Header` the question, `Options` 2 to 12 answers."""

    Group = S()
    Phone = S()
    Header = S(required=True)
    Options = fields.List(S(), required=True)
    Id = S()


class EditBodySchema(Schema):
    """`Id` of a text this session sent, within WhatsApp's 15 minutes; `Body` its new text."""

    Phone = S(required=True)
    Id = S(required=True)
    Body = S(required=True)


class DeleteBodySchema(Schema):
    Phone = S(required=True)
    Id = S(required=True)


class ReactBodySchema(Schema):
    """`Body`: the emoji, or "" to take the reaction back; `Id`: the message (`me:<id>` for the session's own)."""

    Phone = S(required=True)
    Body = S(required=True)
    Id = S(required=True)


class ConnectedSchema(Schema):
    details = S(required=True)
    events = S(required=True)
    jid = S(required=True)
    webhook = S(required=True)


class DetailsSchema(Schema):
    Details = S(required=True)


class StatusSchema(Schema):
    Connected = B(required=True)
    LoggedIn = B(required=True)
    Jid = S()
    Status = S()


class QrCodeSchema(Schema):
    QRCode = S(required=True)


class LinkingCodeSchema(Schema):
    LinkingCode = S(required=True)


class WebhookSchema(Schema):
    webhook = S(required=True)
    subscribe = fields.List(S())
    events = fields.List(S())
    active = B()


class SentSchema(Schema):
    Details = S(required=True)
    Id = S(required=True)
    Timestamp = S(required=True)
    MessageId = Int()
    Status = S()


class CheckedUserSchema(Schema):
    IsInWhatsapp = B(required=True)
    JID = S(required=True)
    Query = S(required=True)
    VerifiedName = S(required=True)


class CheckedUsersSchema(Schema):
    Users = fields.List(fields.Nested(CheckedUserSchema), required=True)


class ContactSchema(Schema):
    BusinessName = S(required=True)
    FirstName = S(required=True)
    Found = B(required=True)
    FullName = S(required=True)
    PushName = S(required=True)


class ProxyBodySchema(Schema):
    proxy_url = S()  # socks5://user:pass@host:port, http://host:port or https://host:port; required with enable
    enable = B(required=True)


class ProxySetSchema(Schema):
    Details = S(required=True)
    ProxyURL = S()  # redacted: scheme, host and port


class NewsletterListSchema(Schema):
    Newsletter = fields.List(fields.Dict(), required=True)  # whatsmeow's NewsletterMetadata JSON, one per channel


ConnectAnswer = _answer(ConnectedSchema, "Connect")
DetailsAnswer = _answer(DetailsSchema, "Details")
StatusAnswer = _answer(StatusSchema, "Status")
QrAnswer = _answer(QrCodeSchema, "Qr")
PairAnswer = _answer(LinkingCodeSchema, "Pair")
WebhookAnswer = _answer(WebhookSchema, "Webhook")
SentAnswer = _answer(SentSchema, "Sent")
CheckAnswer = _answer(CheckedUsersSchema, "Check")
ContactsAnswer = _answer(fields.Dict(keys=S(), values=fields.Nested(ContactSchema), required=True), "Contacts")
ProxyAnswer = _answer(ProxySetSchema, "Proxy")
NewsletterListAnswer = _answer(NewsletterListSchema, "NewsletterList")
