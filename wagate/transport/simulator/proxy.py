"""A session's proxy in the simulator: dialled for real before each connect (`proxy_dial`), a tunnel to
web.whatsapp.com:443 must open, or the connect fails for good with the proxy's refusal as its reason.
`proxy_dials` records each dial (session id, proxy URL)."""

from __future__ import annotations

import functools

from wagate.transport.base import ConnectFailed
from wagate.transport.proxy_dial import ProxyRefused, dial, proxy_address
from wagate.transport.simulator.connection import SimulatorConnection

DIAL_TIMEOUT_S = 10.0  # divided by `speed`


class SimulatorProxy(SimulatorConnection):
    """Built on the connection part: its `connect` dials the proxy, then connects."""

    # State of this part, made on first use: the constructor is the base's, so its signature stays typed.
    @functools.cached_property
    def proxies(self) -> dict[str, str]:
        return {}

    @functools.cached_property
    def proxy_dials(self) -> list[tuple[str, str]]:
        return []

    async def use_proxy(self, session_id: str, proxy_url: str | None) -> None:
        if proxy_url is None:
            self.proxies.pop(session_id, None)
        else:
            self.proxies[session_id] = proxy_url

    async def connect(self, session_id: str) -> None:
        proxy_url = self.proxies.get(session_id)
        if proxy_url is not None and self._session(session_id).state == "idle":
            self.proxy_dials.append((session_id, proxy_url))
            try:
                await dial(proxy_url, timeout_s=self._delay(DIAL_TIMEOUT_S))
            except ProxyRefused as exc:
                await self._emit(ConnectFailed(session_id=session_id, reason=f"proxy {proxy_address(proxy_url)}: {exc}",
                                               permanent=True))
                return
        await super().connect(session_id)
