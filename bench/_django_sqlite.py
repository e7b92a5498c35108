"""Django on a fresh SQLite file, for the page and list benchmarks (no Redis, SQS or gateway).

Not a benchmark itself (make bench skips files starting with `_`).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def configure(db: Path) -> None:
    for key in [k for k in os.environ if k.startswith(("DJANGO_", "DATABASE"))]:
        del os.environ[key]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "huntaze.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret",
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": f"sqlite:///{db}",
            "LOG_LEVEL": "WARNING",
            # DEBUG is off and nothing is delivered: the sandbox stands in for the gateway
            # (settings refuse to start without one).
            "ONLYFANS_SANDBOX_ENABLED": "true",
            # Requests go to the test client over plain HTTP, with no collectstatic run (as in
            # tests/settings.py): production's HTTPS redirect and hashed static names stay out.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_STATIC_MANIFEST": "false",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def timed(fn, runs: int) -> dict:
    fn()  # warm the page cache and Django's first-call paths
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "medianMs": round(statistics.median(samples), 2),
        "p95Ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "maxMs": round(samples[-1], 2),
    }
