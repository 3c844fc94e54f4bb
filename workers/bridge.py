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
from wagate.errors import NotFound, TransportError
from wagate.queue.jobs import SEND_MESSAGE, SESSION_CALL, SESSION_COMMAND, SIMULATOR_CONTROL
from wagate.queue.names import bridge_queue
from workers.common import Ctx, build_worker

log = structlog.get_logger("wagate.jobs")

# A command for a session that another live bridge of the shard drives is tried again until that bridge takes it
# from the queue, releases the session or stops counting as alive (15 s).
LEASE_RETRY_S = 2
COMMAND_TRIES = 30
# A call is given up within the time its caller waits (COMMAND_WAIT_S), so it never acts after the answer was sent.
CALL_TRIES = 5


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


async def _for_the_holder(ctx: Ctx, session_id: str, what: str, tries: int = COMMAND_TRIES) -> str | None:
    """None when this bridge may act on the session (it holds its lease, or nobody does); otherwise the job goes
    back on the queue for the holder, or, after `COMMAND_TRIES`, the reason it was given up."""
    bridge: Bridge = ctx["bridge"]
    holder = await bridge.leases.holder(session_id)
    if holder is None or holder == bridge.owner:
        return None
    # The phone and WhatsApp talk to the connection of the bridge that drives the session.
    if ctx["job_try"] >= tries:
        log.error("job abandoned: the session stays with another bridge", session_id=session_id, job=what)
        return "the session is driven by another bridge that does not answer"
    raise Retry(defer=LEASE_RETRY_S)


async def simulator_control(ctx: Ctx, session_id: str, action: str, params: dict[str, Any]) -> str | None:
    """The simulator's phone side, driven over HTTP through the web (WA_TRANSPORT=simulator only); the reason
    the phone could not do it, or None."""
    from wagate.bridge.simulator_control import apply

    refused = await _for_the_holder(ctx, session_id, "simulator action")
    if refused is not None:
        return refused
    return await apply(ctx["bridge"].transport, session_id, action, params)


async def session_call(ctx: Ctx, session_id: str, name: str, params: dict[str, Any]) -> Any:
    """A call the web waits on (`wagate.bridge.calls`), answered by the connection that drives the session."""
    from wagate.bridge import calls

    refused = await _for_the_holder(ctx, session_id, f"call {name}", CALL_TRIES)
    if refused is not None:
        raise TransportError(refused)
    return await calls.run(ctx["bridge"].transport, session_id, name, params)


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
        func(session_call, name=SESSION_CALL, max_tries=CALL_TRIES),
    ]
    if settings.wa_transport == "simulator":
        functions.append(func(simulator_control, name=SIMULATOR_CONTROL, max_tries=COMMAND_TRIES))
    return build_worker(
        settings, queue_name=bridge_queue(shard), functions=functions, on_startup=startup, on_shutdown=shutdown,
        handle_signals=handle_signals, max_jobs=200,
    )
