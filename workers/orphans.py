"""Job marks a dead process left behind, released by the next consumer of its queue when that one starts.

arq marks each job it starts (`arq:in-progress:<job id>`) so that no other process starts it too; a process
killed mid-job leaves its marks, and its jobs wait until the marks lapse (one job lease, see
`workers.common.Consumer`). Every consumer lists itself under `wagate:consumers:<queue>` with an owner id
naming its host, PID namespace and PID (as the bridge's session leases do, `wagate.bridge.leases`) and keeps a
key `wagate:consumer:<queue>:<owner>` alive for a lease. A consumer starting while every other listed consumer
of its queue is certainly gone (a process of this host and PID namespace that no longer runs, or one whose key
lapsed, and its marks with it) releases the marks on the queue's due jobs before it takes any: only those
consumers set them. So a supervisor's restart after a SIGKILL runs the killed process's jobs at once instead of a
lease later. With another consumer live, or none listed, every mark is left to lapse.
"""

from __future__ import annotations

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms

from wagate.bridge.leases import holder_is_gone

SCAN_CHUNK = 1000
SCAN_MAX = 100_000  # due jobs looked at: a dead process's jobs are among the first due, the ones it took

# KEYS: the registry, then marks. ARGV: this consumer, then every owner the registry listed when it was read.
# Only if the registry still lists exactly those (no consumer came meanwhile) are the others struck off and the
# marks deleted; a consumer that came would have set its own marks after listing itself.
_RELEASE = """
local listed = redis.call('hkeys', KEYS[1])
if #listed ~= #ARGV - 1 then return -1 end
for i = 2, #ARGV do
  if redis.call('hexists', KEYS[1], ARGV[i]) == 0 then return -1 end
end
for i = 2, #ARGV do
  if ARGV[i] ~= ARGV[1] then redis.call('hdel', KEYS[1], ARGV[i]) end
end
local released = 0
for i = 2, #KEYS do released = released + redis.call('del', KEYS[i]) end
return released
"""


def registry_key(queue: str) -> str:
    return f"wagate:consumers:{queue}"


def alive_key(queue: str, owner: str) -> str:
    return f"wagate:consumer:{queue}:{owner}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def gone_consumers(redis: ArqRedis, queue: str, owner: str) -> list[str] | None:
    """The other consumers listed for `queue`, if every one of them is certainly gone; else None."""
    listed = [_text(o) for o in await redis.hkeys(registry_key(queue))]  # type: ignore[misc]
    others = [o for o in listed if o != owner]
    if not others:
        return None
    async with redis.pipeline(transaction=False) as pipe:
        for other in others:
            pipe.exists(alive_key(queue, other))
        alive = await pipe.execute()
    if any(live and not holder_is_gone(other) for other, live in zip(others, alive, strict=True)):
        return None
    return listed


async def release_orphaned_marks(redis: ArqRedis, queue: str, owner: str) -> int:
    """Delete the marks on `queue`'s due jobs when only gone consumers could have set them; how many (-1: not)."""
    listed = await gone_consumers(redis, queue, owner)
    if listed is None:
        return -1
    marks: list[str] = []
    for start in range(0, SCAN_MAX, SCAN_CHUNK):
        ids = await redis.zrangebyscore(queue, min=float("-inf"), max=timestamp_ms(), start=start, num=SCAN_CHUNK)
        if not ids:
            break
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.exists(in_progress_key_prefix + _text(job_id))
            found = await pipe.execute()
        marks += [in_progress_key_prefix + _text(j) for j, marked in zip(ids, found, strict=True) if marked]
    released = await redis.eval(_RELEASE, 1 + len(marks), registry_key(queue), *marks,  # type: ignore[misc]
                                owner, *listed)
    return int(released)
