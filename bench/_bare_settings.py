"""Settings for bench/send_throughput.py: the project as deployed, plus the bare view's URL
(`_bare_urls.py`)."""

from huntaze.settings import *  # noqa: F403

ROOT_URLCONF = "_bare_urls"
