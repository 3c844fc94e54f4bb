"""A session's proxy for neonize: handed to whatsmeow at connect (`NewAClient.connect(ProxySettings)`), which dials
WhatsApp's websocket and media through it (HTTP CONNECT for http:// and https://, SOCKS5 for socks5://). neonize's
`set_proxy_address` only changes a client already connected; a change of proxy restarts the session instead."""

from __future__ import annotations

import functools
from typing import Any

from wagate.transport.neonize.session import NeonizeBase


def proxy_settings(proxy_url: str | None) -> Any:
    """neonize's ProxySettings for a proxy URL; None (connect directly) for none."""
    if proxy_url is None:
        return None
    from neonize._binder import ProxySettings

    return ProxySettings(proxy_address=proxy_url)


class NeonizeProxy(NeonizeBase):
    @functools.cached_property
    def _proxies(self) -> dict[str, str]:  # state of this part, made on first use: the constructor is the base's
        return {}

    async def use_proxy(self, session_id: str, proxy_url: str | None) -> None:
        if proxy_url is None:
            self._proxies.pop(session_id, None)
        else:
            self._proxies[session_id] = proxy_url

    def _proxy_for(self, session_id: str) -> str | None:
        return self._proxies.get(session_id)
