"""The gateway's Prometheus metrics, recorded where things happen and read by `/metrics`.

Counters and histograms live in the process that records them. With `PROMETHEUS_MULTIPROC_DIR` set (by
`wagate run`, supervisord's environment) each process writes them to its own memory-mapped files in that
folder, and the web's `/metrics` sums the files of every process of the host. The variable must be set before
the process starts: prometheus_client chooses where values live when it is first imported. Without it (a lone
process, the tests) they stay in this process's memory.

Gauges that describe shared state (queue depth, sessions by status) are not kept here: `wagate.observability.
scrape` reads them from Redis and the database at each scrape, so every web process reports the same truth.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Request and job latencies from a cache hit (1 ms) to a slow upload or webhook (30 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Jobs wait for a free slot from milliseconds (the 50 ms poll) up to minutes behind a backlog.
WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
UNMATCHED_ROUTE = "unmatched"  # 404s and the like: one label, however many URLs scanners try
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # anything else is "other"

HTTP_REQUEST_SECONDS = Histogram(
    "wagate_http_request_duration_seconds", "HTTP request latency by route template and status class",
    ("method", "route", "status_class"), buckets=LATENCY_BUCKETS,
)
JOB_WAIT_SECONDS = Histogram(
    "wagate_job_queue_wait_seconds", "Time from when a job was due (enqueued or deferred to) to its start",
    ("queue", "function"), buckets=WAIT_BUCKETS,
)
JOB_SECONDS = Histogram(
    "wagate_job_duration_seconds", "Job run time by function and outcome (success, retry, failed, timeout, cancelled)",
    ("queue", "function", "outcome"), buckets=LATENCY_BUCKETS,
)
SENDS = Counter("wagate_sends_total", "WhatsApp send attempts by result (sent, failed, retried)", ("status",))
WEBHOOK_DELIVERIES = Counter(
    "wagate_webhook_deliveries_total", "Webhook delivery attempts by result (delivered, failed, retry, exhausted)",
    ("result",),
)
WEBHOOK_SECONDS = Histogram(
    "wagate_webhook_delivery_duration_seconds", "Webhook POST latency by result", ("result",),
    buckets=LATENCY_BUCKETS,
)
BRIDGE_RECONNECTS = Counter(
    "wagate_bridge_reconnects_total", "Transport disconnects and failed connects by event and shard",
    ("event", "shard"),
)
TRANSPORT_INCIDENTS = Counter(
    "wagate_transport_incidents_total",
    "WhatsApp library incidents by kind (abandoned_call: a Go call stuck past stop; send_unknown: a send whose outcome"
    " is unknown; send_limit: WhatsApp refused sends to new contacts; memory_ceiling: a bridge past BRIDGE_MAX_RSS_MB"
    " restarted; stores_left_open: a bridge restarted to close the stores its ended connects left open)",
    ("kind",),
)
SESSIONS_SILENT = Counter(
    "wagate_sessions_silent_total",
    "Sessions found WORKING with no event for long whose connection did not answer a ping; each was reconnected",
    ("shard",),
)
RATE_LIMIT_REJECTIONS = Counter(
    "wagate_rate_limit_rejections_total", "Requests refused with 429 by limit name", ("limit",),
)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    HTTP_REQUEST_SECONDS.labels(method, route or UNMATCHED_ROUTE, status_class(status)).observe(seconds)


def observe_job(queue: str, function: str, outcome: str, wait_s: float | None, run_s: float) -> None:
    if wait_s is not None:
        JOB_WAIT_SECONDS.labels(queue, function).observe(max(0.0, wait_s))
    JOB_SECONDS.labels(queue, function, outcome).observe(run_s)


def count_send(status: str) -> None:
    SENDS.labels(status).inc()


def observe_webhook(result: str, seconds: float) -> None:
    WEBHOOK_DELIVERIES.labels(result).inc()
    WEBHOOK_SECONDS.labels(result).observe(seconds)


def count_reconnect(event: str, shard: int) -> None:
    BRIDGE_RECONNECTS.labels(event, str(shard)).inc()


def count_transport_incident(kind: str) -> None:
    TRANSPORT_INCIDENTS.labels(kind).inc()


def count_silent_session(shard: int) -> None:
    SESSIONS_SILENT.labels(str(shard)).inc()


def count_rejection(limit: str) -> None:
    RATE_LIMIT_REJECTIONS.labels(limit).inc()
