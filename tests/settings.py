"""Test settings: the project's settings, pointed at real servers started for this process."""

import os
import tempfile

from tests.support.servers import MotoServer, RedisServer, set_fake_aws_credentials

set_fake_aws_credentials()
REDIS = RedisServer()
MOTO = MotoServer()

os.environ.update(
    {
        "DJANGO_SECRET_KEY": "test-only-secret-key-not-used-anywhere-else",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "REDIS_URL": REDIS.url,
        "SQS_ENDPOINT_URL": MOTO.url,
        "CLOUDWATCH_ENDPOINT_URL": MOTO.url,
        "CLOUDWATCH_ASYNC": "false",
        # moto on a loaded 2-core machine can take longer than production's 0.5 s; the outage
        # tests use endpoints that refuse at once, so this only removes false `pending`s.
        "SQS_REQUEST_TIMEOUT": "5",
        "ONLYFANS_API_BASE_URL": os.environ.get(
            "ONLYFANS_API_BASE_URL", "http://127.0.0.1:9/unused"
        ),
        "ONLYFANS_API_KEY": "test-gateway-key",
        "ONLYFANS_WEBHOOK_SECRET": "test-webhook-secret",
        # The sandbox gateway's routes are mounted so that its own tests can call them.
        "ONLYFANS_SANDBOX_ENABLED": "true",
        "LOG_FORMAT": "json",
        # `manage.py` subprocesses never read a developer's var/localstack.env (make run's).
        "HUNTAZE_LOCAL_ENV_FILE": "",
        # Production's HTTPS defaults stay on (DEBUG is off here) except what plain-HTTP test
        # servers cannot do; tests/test_deploy.py checks the defaults themselves.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        # No collectstatic before the tests: serve static files from the apps' folders.
        "DJANGO_STATIC_MANIFEST": "false",
    }
)
os.environ.pop("DJANGO_DEBUG", None)

from huntaze.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: consumer subprocesses in the multi-process tests share it.
    # One file per test process, so that concurrent runs never share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"huntaze-test-{os.getpid()}.sqlite3")
    }

LOGGING["loggers"]["werkzeug"] = {"level": "WARNING"}  # noqa: F405 - moto server's access log

# whitenoise finds static files in the apps' folders (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = os.path.join(tempfile.gettempdir(), "huntaze-test-static")
os.makedirs(STATIC_ROOT, exist_ok=True)
