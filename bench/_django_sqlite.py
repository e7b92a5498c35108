"""Django on a fresh SQLite file, for the page and list benchmarks (no Redis, SQS or gateway).

Not a benchmark itself (make bench skips files starting with `_`).
"""

from __future__ import annotations

import os
import sys
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
