"""Bodies and answers of the broadcast API (`/api/broadcast*`): create or preview, list queries, a broadcast.

WA-Gate v2 clients wrote `message` for the template and `schedule_at` for the start time; both spellings load.
A multipart request loads the same schema from its text fields (the recipients come as the `file` CSV part).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from wagate.db.enums import BroadcastStatus, RecipientStatus
from wagate.db.models_delivery import Broadcast
from wagate.schemas.messages import ContactCardSchema
from wagate.services.broadcasts.campaigns import MAX_NAME, MAX_PAGE_SIZE, MEDIA_TYPES
from wagate.services.broadcasts.campaigns import Page as ServicePage
from wagate.services.broadcasts.kinds import BROADCAST_KINDS
from wagate.services.messaging import kinds
from wagate.services.messaging.drafts import MAX_LOCATION_TEXT
from wagate.services.messaging.sending import MAX_TEXT_CHARS
from wagate.session_ids import SessionIdField

ALIASES = {"message": "template", "schedule_at": "start_at", "session_id": "session"}


class CreateSchema(Schema):
    session = fields.String(load_default=None, validate=SessionIdField())
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME))
    template = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_CHARS))
    recipients = fields.List(fields.Raw(), load_default=None)  # JSON only; rows are checked one by one later
    start_at = fields.AwareDateTime(load_default=None)
    media_type = fields.String(load_default=None, validate=validate.OneOf([t.value for t in MEDIA_TYPES]))
    # Any other message kind (`services.broadcasts.kinds`), with the fields a send of it takes; `template` is the text,
    # or the caption of a medium, filled per recipient.
    type = fields.String(load_default=None, validate=validate.OneOf(BROADCAST_KINDS))
    contacts = fields.List(fields.Nested(ContactCardSchema), load_default=None)
    question = fields.String(load_default=None, validate=validate.Length(min=1, max=kinds.MAX_POLL_QUESTION))
    options = fields.List(fields.String(validate=validate.Length(min=1, max=kinds.MAX_POLL_OPTION)),
                          load_default=None)
    selectable = fields.Integer(load_default=None, validate=validate.Range(min=0, max=kinds.MAX_POLL_OPTIONS))
    latitude = fields.Float(load_default=None, allow_nan=False)
    longitude = fields.Float(load_default=None, allow_nan=False)
    location_name = fields.String(load_default=None, validate=validate.Length(max=MAX_LOCATION_TEXT))
    address = fields.String(load_default=None, validate=validate.Length(max=MAX_LOCATION_TEXT))

    @pre_load
    def _aliases(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            raise ValidationError({"_schema": ["expects a JSON object"]})
        data = dict(data)
        for old, new in ALIASES.items():
            if old in data:
                if new in data:
                    raise ValidationError({old: [f"give either {old!r} or {new!r}, not both"]})
                data[new] = data.pop(old)
        if data.get("start_at") == "":
            data.pop("start_at")
        return data


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class ListQuerySchema(PageQuerySchema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in BroadcastStatus]))


class RecipientsQuerySchema(PageQuerySchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in RecipientStatus]))


class BroadcastSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    session = fields.String(attribute="session_id", allow_none=True)
    status = fields.String()
    template = fields.String()
    media_mime = fields.String(data_key="mediaType", allow_none=True)
    media_name = fields.String(data_key="mediaName", allow_none=True)
    start_at = fields.DateTime(data_key="startAt", allow_none=True)
    created_by = fields.String(data_key="createdBy", allow_none=True)
    created_at = fields.DateTime(data_key="createdAt")
    completed_at = fields.DateTime(data_key="completedAt", allow_none=True)
    total_count = fields.Integer(data_key="total")
    progress = fields.Method("_progress")

    def _progress(self, broadcast: Broadcast) -> dict[str, int]:
        """The stored counters (the list); `GET /api/broadcast/{id}` replaces them with a live count."""
        return {"total": broadcast.total_count, "pending": broadcast.pending_count, "sent": broadcast.sent_count,
                "delivered": broadcast.delivered_count, "read": broadcast.read_count,
                "failed": broadcast.failed_count}


def page(result: ServicePage, items: list[Any]) -> dict[str, Any]:
    return {"items": items, "total": result.total, "page": result.page, "limit": result.limit,
            "pages": (result.total + result.limit - 1) // result.limit}
