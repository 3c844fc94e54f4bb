"""The worker process: webhooks, broadcast expansion, scheduled work and cron, on the worker queue."""

from __future__ import annotations

from arq import Worker

from wagate.config import Settings
from wagate.queue.names import WORKER_QUEUE
from workers.common import build_worker


def create_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    return build_worker(settings, queue_name=WORKER_QUEUE, functions=[], handle_signals=handle_signals)
