"""The people behind numbers through whatsmeow: user info (about text, picture id, verified business name,
devices), profile pictures, the block list, LID ↔ phone number from whatsmeow's store, and the session's own push
name, about text and picture.

neonize 0.5.2 has no call for a business profile (whatsmeow's GetBusinessProfile is not wrapped, nor its answer's
type): `business_profile` stays the interface's refusal; a business's verified name comes with `user_info`.
"""

from __future__ import annotations

from collections.abc import Sequence

from wagate.transport.base import ProfilePicture, UserInfo
from wagate.transport.neonize import mapping
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import NeonizeBase

# whatsmeow's answers for "no picture to show": ErrProfilePictureNotSet, ErrProfilePictureUnauthorized (hidden)
_NO_PICTURE = ("does not have a profile picture", "doesn't have a profile picture", "hidden their profile picture")


class NeonizeContacts(NeonizeBase):
    """Info, pictures, blocks, LIDs and the own profile, asked of the session's client."""

    async def user_info(self, session_id: str, jids: Sequence[str]) -> dict[str, UserInfo]:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        asked = {mapping.jid_to_str(recipient_jid(j)): j for j in jids}
        try:
            answers = await s.client.get_user_info(*(recipient_jid(j) for j in jids))
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        found: dict[str, UserInfo] = {}
        for answer in answers:
            jid = mapping.jid_to_str(answer.JID)
            info = answer.UserInfo
            name = info.VerifiedName.Details.verifiedName if info.HasField("VerifiedName") else ""
            found[asked.get(jid, jid)] = UserInfo(
                jid=jid, about=info.Status or None, picture_id=info.PictureID or None, verified_name=name or None,
                devices=tuple(mapping.jid_to_str(d, device=True) for d in info.Devices))
        return found

    async def profile_picture(self, session_id: str, jid: str, *, preview: bool = False) -> ProfilePicture | None:
        from neonize.exc import NeonizeError
        from neonize.proto.Neonize_pb2 import GetProfilePictureParams

        s = await self._ready(session_id)
        try:
            picture = await s.client.get_profile_picture(recipient_jid(jid), GetProfilePictureParams(Preview=preview))
        except NeonizeError as exc:
            if any(m in str(exc).lower() for m in _NO_PICTURE):
                return None
            raise transport_error(exc) from exc
        if not picture.URL:
            return None
        return ProfilePicture(url=picture.URL, id=picture.ID, type=picture.Type or ("preview" if preview else "image"))

    async def blocklist(self, session_id: str) -> list[str]:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            listed = await s.client.get_blocklist()
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        return [mapping.jid_to_str(j) for j in listed.JIDs]

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> list[str]:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import BlocklistAction

        s = await self._ready(session_id)
        action = BlocklistAction.BLOCK if blocked else BlocklistAction.UNBLOCK
        try:
            listed = await s.client.update_blocklist(recipient_jid(jid), action)
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        return [mapping.jid_to_str(j) for j in listed.JIDs]

    async def set_push_name(self, session_id: str, name: str) -> None:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            await s.client.set_profile_name(name)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def set_about(self, session_id: str, text: str) -> None:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            await s.client.set_status_message(text)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def set_profile_picture(self, session_id: str, data: bytes) -> str:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            return await s.client.set_profile_photo(data)  # bytes: never a path or URL neonize would fetch
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def lid_of(self, session_id: str, phone_jid: str) -> str | None:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            found = await s.client.get_lid_from_pn(recipient_jid(phone_jid))
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        return mapping.jid_to_str(found) if found.User else None

    async def phone_of(self, session_id: str, lid: str) -> str | None:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            return await s.recipients.phone_of_lid(s.client, mapping.jid_to_str(recipient_jid(lid)))
        except NeonizeError as exc:
            raise transport_error(exc) from exc
