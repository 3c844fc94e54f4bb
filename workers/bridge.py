"""A bridge process of one shard: arq jobs that reach the shard's `Bridge` (connections, sends, commands).

Every bridge of a shard reads the shard's queue; a command taken by a bridge that does not hold the session's lease
goes back on the queue for the holder (or for whichever bridge claims the session next)."""

from __future__ import annotations

from typing import Any

import structlog
from arq import Retry, Worker
from arq.worker import func

from wagate.bridge.leases import LeaseHeld
from wagate.bridge.runtime import Bridge
from wagate.config import Settings
from wagate.errors import NotFound
from wagate.queue.jobs import SEND_MESSAGE, SESSION_COMMAND, SIMULATOR_CONTROL
from wagate.queue.names import bridge_queue
from workers.common import Ctx, build_worker

log = structlog.get_logger("wagate.jobs")

# A command for a session that another live bridge of the shard drives is tried again until that bridge takes it
# from the queue, releases the session or stops counting as alive (15 s).
LEASE_RETRY_S = 2
COMMAND_TRIES = 30


async def send_message(ctx: Ctx, session_id: str, message_id: int) -> bool:
    """Wake the session's sender; the message row, not this job, is what gets sent (a rerun sends nothing)."""
    return ctx["bridge"].wake(session_id)


async def session_command(ctx: Ctx, session_id: str, command: str, params: dict[str, Any]) -> Any:
    try:
        return await ctx["bridge"].command(session_id, command, params)
    except LeaseHeld as exc:
        if ctx["job_try"] >= COMMAND_TRIES:
            log.error("command abandoned: the session stays with another bridge", session_id=session_id,
                      command=command, reason=exc.message)
            return None
        raise Retry(defer=LEASE_RETRY_S) from exc
    except NotFound:
        log.warning("command for a session that no longer exists", session_id=session_id, command=command)
        return None


async def simulator_control(ctx: Ctx, session_id: str, action: str, params: dict[str, Any]) -> str | None:
    """The simulator's phone side, driven over HTTP through the web (WA_TRANSPORT=simulator only); the reason
    the phone could not do it, or None."""
    from wagate.bridge.simulator_control import apply

    bridge: Bridge = ctx["bridge"]
    holder = await bridge.leases.holder(session_id)
    if holder is not None and holder != bridge.owner:
        # The phone talks to the connection of the bridge that drives the session, as WhatsApp does.
        if ctx["job_try"] >= COMMAND_TRIES:
            log.error("simulator action abandoned: the session stays with another bridge", session_id=session_id,
                      action=action)
            return "the session is driven by another bridge that does not answer"
        raise Retry(defer=LEASE_RETRY_S)
    return await apply(bridge.transport, session_id, action, params)


def create_bridge(settings: Settings, shard: int, *, handle_signals: bool = True) -> Worker:
    if not 0 <= shard < settings.bridge_shards:
        raise ValueError(f"shard must be between 0 and {settings.bridge_shards - 1} (BRIDGE_SHARDS)")

    async def startup(ctx: Ctx) -> None:
        bridge = Bridge(settings, shard, db=ctx["db"], redis=ctx["redis"])
        ctx["bridge"] = bridge
        await bridge.start()

    async def shutdown(ctx: Ctx) -> None:
        if "bridge" in ctx:
            await ctx["bridge"].close()

    functions: list[Any] = [
        func(send_message, name=SEND_MESSAGE),
        func(session_command, name=SESSION_COMMAND, max_tries=COMMAND_TRIES),
    ]
    if settings.wa_transport == "simulator":
        functions.append(func(simulator_control, name=SIMULATOR_CONTROL, max_tries=COMMAND_TRIES))
    return build_worker(
        settings, queue_name=bridge_queue(shard), functions=functions, on_startup=startup, on_shutdown=shutdown,
        handle_signals=handle_signals, max_jobs=200,
    )
