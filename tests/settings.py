"""Test settings: the real settings, with a throw-away data folder and inline tasks."""

import os
import tempfile

os.environ.setdefault("ANLIAN_DATA_DIR", tempfile.mkdtemp(prefix="anlian-test-"))

from anlian.settings import *  # noqa: E402,F403

HUEY = {**HUEY, "immediate": True}  # noqa: F405  - tasks run inline; tests/test_queue.py runs a real worker

# Still argon2 (tests assert the scheme), with the cost lowered so fixtures with logins are fast.
PASSWORD_HASHERS = ["tests.hashers.CheapArgon2PasswordHasher", *PASSWORD_HASHERS]  # noqa: F405
