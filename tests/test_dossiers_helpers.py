"""Shared pieces of the dossier tests (no tests here): a closed hot-work permit of company A with
real JPEG photos, a drawn signature, readings and an approval; regulator logins; the read-only
middleware installed."""

from __future__ import annotations

import pytest

from anlian.dossiers import demo
from anlian.dossiers.models import RegulatorAccount
from anlian.flows.models import Instance
from tests.conftest import PASSWORD, World

READ_ONLY = "anlian.dossiers.middleware.ReadOnlyAccountsMiddleware"


@pytest.fixture
def job(world: World) -> Instance:
    return demo.make_job(world.a.worker, world.a.area, photos=5)


@pytest.fixture
def job_b(world: World) -> Instance:
    return demo.make_job(world.b.worker, world.b.area, photos=3)


@pytest.fixture
def read_only(settings):
    """The middleware as the lead installs it (after authentication); added here if not yet there."""
    if READ_ONLY not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, READ_ONLY]


def regulator(world: World, companies, username: str = "reg-a") -> RegulatorAccount:
    from anlian.dossiers import services

    return services.create_regulator(world.a.admin.user, name="市应急局张检查", agency="市应急管理局",
                                     username=username, password=PASSWORD, companies=companies)
