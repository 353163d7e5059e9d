"""Test settings: the real settings with a throwaway data directory, and PostgreSQL when
WORKBENCH_TEST_DATABASE_URL is set (scripts/test sets it for its second run)."""

import os
import tempfile

os.environ.setdefault("WORKBENCH_DATA_DIR", tempfile.mkdtemp(prefix="workbench-test-"))
os.environ.pop("WORKBENCH_DATABASE_URL", None)
os.environ.pop("WORKBENCH_BROKER_URL", None)

import dj_database_url  # noqa: E402

from workbench.settings import *  # noqa: E402,F403
from workbench.settings import DATA_DIR, DATABASES  # noqa: E402

_test_url = os.environ.get("WORKBENCH_TEST_DATABASE_URL")
if _test_url:
    DATABASES = {"default": dj_database_url.parse(_test_url)}
else:
    # A file, not :memory:, so a worker process started by a test sees the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

# A worker process started by a test must use the database the test run created, not the configured name.
_use_name = os.environ.get("WORKBENCH_TEST_USE_DB_NAME")
if _use_name:
    DATABASES["default"]["NAME"] = _use_name

(DATA_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
# A worker started by a test may be pointed at another broker (the Redis variant of the worker test).
_broker = os.environ.get("WORKBENCH_TEST_BROKER_URL")
if _broker:
    BROKER_URL = CELERY_BROKER_URL = _broker
    CELERY_BROKER_TRANSPORT_OPTIONS = {}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WORKBENCH_INLINE_IMPORT_MAX_KB = 64
