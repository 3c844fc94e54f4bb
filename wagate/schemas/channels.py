"""Bodies of the status (story) and channel (newsletter) API under `/api/sessions/{id}/…`."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class StatusPostSchema(Schema):
    """A status: text on a background colour in a status font, or an image or a video (URL or data: URI)."""

    type = fields.String(load_default="text", validate=validate.OneOf(["text", "image", "video"]))
    text = fields.String(load_default=None, allow_none=True)
    caption = fields.String(load_default=None, allow_none=True)
    media = fields.String(load_default=None, allow_none=True)  # https URL (fetched through the SSRF guard) or data:
    file_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    background_color = fields.String(load_default=None, allow_none=True)  # "#RRGGBB" or "#AARRGGBB"
    font = fields.Raw(load_default=None, allow_none=True)  # a font name (system, fb_script…) or its number


class StatusQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class NewsletterQuerySchema(Schema):
    """One channel, by its JID or by its invite link (or the link's code)."""

    jid = fields.String(load_default=None)
    invite = fields.String(load_default=None)


class NewsletterSchema(Schema):
    """A channel as the session sees it; `role` is the session's: owner, admin, subscriber or guest."""

    jid = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    invite_code = fields.String(allow_none=True)
    subscribers = fields.Integer(allow_none=True)
    role = fields.String(allow_none=True)
    muted = fields.Boolean(allow_none=True)
    verified = fields.Boolean(allow_none=True)


class FollowingSchema(Schema):
    jid = fields.String(required=True)
    following = fields.Boolean(required=True)
