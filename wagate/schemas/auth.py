"""Request and answer bodies of the dashboard auth routes (/api/auth/*), users (/api/users) and keys (/api/keys)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from wagate.db.enums import Role

ROLES = [r.value for r in Role]
USERNAME = validate.Regexp(r"^[A-Za-z0-9._@-]{3,64}$", error="3-64 letters, digits or . _ @ -")
BCRYPT_MAX_BYTES = 72  # bcrypt refuses a longer password (it used to ignore everything after byte 72)


def _fits_bcrypt(value: str) -> None:
    if len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValidationError(f"is longer than {BCRYPT_MAX_BYTES} bytes in UTF-8")


def _new_password(**kwargs: Any) -> fields.String:
    """A password to hash: 10 characters at least, and at most the 72 bytes bcrypt takes."""
    return fields.String(validate=[validate.Length(min=10, max=BCRYPT_MAX_BYTES), _fits_bcrypt], **kwargs)


class LoginSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))
    # The refresh token only in the HttpOnly cookie, not in the answer (what the dashboard asks for).
    cookie_only = fields.Boolean(load_default=False, truthy={True}, falsy={False})  # JSON true or false only


class RefreshSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    refresh_token = fields.String(load_default=None, validate=validate.Length(max=256))


class ChangePasswordSchema(Schema):
    old_password = fields.String(required=True, validate=validate.Length(max=1024))
    new_password = _new_password(required=True)


class UserSchema(Schema):
    """A user as answered: never the password hash, the failure count or the lock."""

    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    role = fields.String()
    tenant_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    last_login_at = fields.DateTime(allow_none=True)
    locked_until = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = _new_password(required=True)
    email = fields.Email(load_default=None, allow_none=True)
    role = fields.String(load_default=Role.USER.value, validate=validate.OneOf(ROLES))
    # Left out: the caller's own tenant (none for an install-wide admin); null asks for an install-wide user.
    tenant_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean(load_default=True)


class UserUpdateSchema(Schema):
    email = fields.Email(allow_none=True)
    role = fields.String(validate=validate.OneOf(ROLES))
    tenant_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    password = _new_password()


class ApiKeySchema(Schema):
    """A key as listed: its visible prefix, never its hash."""

    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    role = fields.String()
    tenant_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoked = fields.Function(lambda key: key.revoked_at is not None)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(load_default=Role.USER.value, validate=validate.OneOf(ROLES))
    tenant_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Load a JSON body; a body that is not an object fails like any other invalid field."""
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["expects a JSON object"]})
    result: dict[str, Any] = schema().load(data)
    return result
