"""CloudWatch metrics, sent from a background thread: a metrics failure never fails or slows a
request."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

logger = logging.getLogger(__name__)

QUEUED = "OnlyFansMessagesQueued"
SENT = "OnlyFansMessagesSent"
FAILED = "OnlyFansMessagesFailed"
DEAD_LETTERED = "OnlyFansMessagesDeadLettered"
DEFERRED = "OnlyFansMessagesDeferred"
DELIVERY_LATENCY = "OnlyFansDeliveryLatency"


@dataclass(frozen=True)
class Datum:
    name: str
    value: float
    unit: str
    dimensions: tuple[tuple[str, str], ...] = field(default=())


_pending: queue.Queue[Datum] = queue.Queue(maxsize=10_000)
_worker_lock = threading.Lock()
_client_lock = threading.Lock()
_worker: threading.Thread | None = None


def emit(name: str, value: float = 1, *, unit: str = "Count", **dimensions: str) -> None:
    if not settings.CLOUDWATCH_ENABLED:
        return
    datum = Datum(name, value, unit, tuple(sorted(dimensions.items())))
    if not settings.CLOUDWATCH_ASYNC:
        _put([datum])
        return
    try:
        _pending.put_nowait(datum)
    except queue.Full:
        logger.warning("Metrics buffer full, dropping a datum", extra={"metric": name})
        return
    _ensure_worker()


def flush() -> None:
    """Send everything buffered now (tests, and processes about to exit)."""
    batch = _drain()
    if batch:
        _put(batch)


def _ensure_worker() -> None:
    global _worker
    if _worker is not None and _worker.is_alive():
        return
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="cloudwatch-metrics", daemon=True)
            _worker.start()


def _drain(first: Datum | None = None) -> list[Datum]:
    batch = [first] if first else []
    while len(batch) < 20:
        try:
            batch.append(_pending.get_nowait())
        except queue.Empty:
            break
    return batch


def _run() -> None:
    while True:
        first = _pending.get()
        _put(_drain(first))


@lru_cache(maxsize=4)
def _cached_client(endpoint: str | None, region: str) -> Any:
    # A session per client: creating clients from the shared default session is not thread-safe.
    return boto3.session.Session().client(
        "cloudwatch",
        endpoint_url=endpoint,
        config=Config(
            region_name=region,
            connect_timeout=2,
            read_timeout=5,
            retries={"total_max_attempts": 2},
        ),
    )


def _client() -> Any:
    """One client per endpoint and region, reused: building a client costs more than a put."""
    with _client_lock:
        return _cached_client(settings.CLOUDWATCH_ENDPOINT_URL, settings.AWS_REGION)


def _put(batch: list[Datum]) -> None:
    try:
        client = _client()
        client.put_metric_data(
            Namespace=settings.CLOUDWATCH_NAMESPACE,
            MetricData=[
                {
                    "MetricName": datum.name,
                    "Value": datum.value,
                    "Unit": datum.unit,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in datum.dimensions],
                }
                for datum in batch
            ],
        )
    except Exception as exc:  # noqa: BLE001 - metrics must never break the pipeline
        logger.warning("CloudWatch metrics could not be sent", extra={"error": str(exc)})
