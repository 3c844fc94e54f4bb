"""Channels (newsletters) through neonize: those followed (`get_subscribed_newletters`, neonize's spelling), one
by JID or invite code, follow and unfollow. Messages to an owned channel are ordinary sends to its JID."""

from __future__ import annotations

from typing import Any

from wagate.errors import NotFound
from wagate.transport.base import Newsletter
from wagate.transport.neonize import mapping
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import NeonizeBase


def newsletter(meta: Any) -> Newsletter:
    """Our `Newsletter` from neonize's NewsletterMetadata."""
    from neonize.proto import Neonize_pb2 as pb

    thread, viewer = meta.ThreadMeta, meta.ViewerMeta
    roles = pb.NewsletterViewerMetadata.DESCRIPTOR.fields_by_name["Role"].enum_type.values_by_number
    mutes = pb.NewsletterViewerMetadata.DESCRIPTOR.fields_by_name["Mute"].enum_type.values_by_number
    states = pb.NewsletterThreadMetadata.DESCRIPTOR.fields_by_name["VerificationState"].enum_type.values_by_number
    viewer_known = meta.HasField("ViewerMeta")
    return Newsletter(
        jid=mapping.jid_to_str(meta.ID), name=thread.Name.Text, description=thread.Description.Text or None,
        invite_code=thread.InviteCode or None,
        subscribers=thread.SubscriberCount if thread.HasField("SubscriberCount") else None,
        role=roles[viewer.Role].name.lower() if viewer_known and viewer.HasField("Role") else None,
        muted=(mutes[viewer.Mute].name == "ON") if viewer_known and viewer.HasField("Mute") else None,
        verified=(states[thread.VerificationState].name == "VERIFIED") if thread.HasField("VerificationState")
        else None,
    )


class NeonizeNewsletters(NeonizeBase):
    async def newsletters(self, session_id: str) -> list[Newsletter]:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            return [newsletter(meta) for meta in await s.client.get_subscribed_newletters()]
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def newsletter(self, session_id: str, *, jid: str | None = None, invite: str | None = None) -> Newsletter:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            if jid is not None:
                meta = await s.client.get_newsletter_info(recipient_jid(jid))
            else:
                meta = await s.client.get_newsletter_info_with_invite(invite or "")
        except NeonizeError as exc:
            if "not found" in str(exc).lower() or "item-not-found" in str(exc).lower():
                raise NotFound("no such channel") from exc
            raise transport_error(exc) from exc
        return newsletter(meta)

    async def follow_newsletter(self, session_id: str, jid: str, follow: bool) -> None:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        try:
            if follow:
                await s.client.follow_newsletter(recipient_jid(jid))
            else:
                await s.client.unfollow_newsletter(recipient_jid(jid))
        except NeonizeError as exc:
            raise transport_error(exc) from exc
