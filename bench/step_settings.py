"""The product's settings with one bare JSON view added: the floor bench/step_api.py measures against."""

from anlian.settings import *  # noqa: F403

ROOT_URLCONF = "bench.step_urls"
