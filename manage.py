#!/usr/bin/env python
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huntaze.settings")
    # In a dev checkout, `make run` writes the local stack's values (database, Redis, SQS, DEBUG)
    # here, so that any command works in a second terminal. The real environment always wins;
    # HUNTAZE_LOCAL_ENV_FILE="" turns this off (production never has the file).
    local_env = os.environ.get(
        "HUNTAZE_LOCAL_ENV_FILE", str(Path(__file__).parent / "var" / "localstack.env")
    )
    if local_env and Path(local_env).is_file():
        from dotenv import load_dotenv

        load_dotenv(local_env, override=False)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
