#!/usr/bin/env python3
"""One-shot preparation of the local stack, in one Django start-up (scripts/localstack.py runs it).

1. migrate the database; 2. seed the demo data (DEBUG only); 3. create the SQS queue and its DLQ
with the redrive policy (`manage.py setup_queues`), then print their URLs as
`LOCALSTACK_QUEUE_URL=…` / `LOCALSTACK_DLQ_URL=…` lines for the supervisor.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-seed", action="store_true", help="skip the demo data")
    parser.add_argument("--no-queues", action="store_true", help="the queues exist already")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huntaze.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command, get_commands

    call_command("migrate", interactive=False, verbosity=1)
    if not args.no_seed:
        call_command("seed_demo")
    if not args.no_queues:
        from onlyfans import sqs

        if "setup_queues" in get_commands():
            call_command("setup_queues")
        else:  # until the operator command exists
            sqs.create_queues(queue_name=settings.SQS_QUEUE_NAME, dlq_name=settings.SQS_DLQ_NAME)
        sqs.clear_caches()
        print(f"LOCALSTACK_QUEUE_URL={sqs.main_queue_url()}")
        print(f"LOCALSTACK_DLQ_URL={sqs.dlq_url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
