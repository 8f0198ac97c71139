"""Template context shared by every page: who is looking and what they may open."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from anlian.core.models import Notice
from anlian.orgs import access
from anlian.orgs.permissions import (
    CHECK_ENTRY,
    GRANT_ROLES,
    MANAGE_CERTIFICATES,
    MANAGE_ORG,
    MANAGE_PEOPLE,
    MANAGE_ROLES,
    MANAGE_TRAINING,
    RECORD_VIOLATIONS,
    VIEW,
)


# Phone pages: under /m/, and the gate's badge and entry pages, the violation record page and
# "my training", which a QR code or a phone tile opens.
PHONE_PATHS = ("/m/", "/badges/t/", "/badges/entry/", "/badges/checks/", "/qualifications/m/", "/training/me/",
               "/hazards/m/")


def shell(request: HttpRequest) -> dict[str, Any]:
    # Shared pages (errors) pick the phone layout when they answer a phone page under /m/.
    base = "core/base_mobile.html" if request.path.startswith(PHONE_PATHS) else "core/base.html"
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"me": None, "base_template": base}
    scope = access.scope_of(user)
    me = getattr(user, "person", None)
    return {
        "base_template": base,
        "me": me,
        # Lazy: counted only on pages that show it.
        "unread_notices": (lambda: Notice.objects.filter(person=me, read_at__isnull=True).count()) if me else 0,
        "nav": {
            "view": scope.is_superuser or bool(scope.paths(VIEW)),
            "manage_org": scope.is_superuser or bool(scope.paths(MANAGE_ORG)),
            "manage_people": scope.is_superuser or bool(scope.paths(MANAGE_PEOPLE)),
            "grant_roles": scope.is_superuser or bool(scope.paths(GRANT_ROLES)),
            "manage_roles": scope.is_superuser or bool(scope.paths(MANAGE_ROLES)),
            "certificates": scope.is_superuser or bool(scope.paths(MANAGE_CERTIFICATES)),
            "training": scope.is_superuser or bool(scope.paths(MANAGE_TRAINING)),
            "violations": scope.is_superuser or bool(scope.paths(RECORD_VIOLATIONS)),
            "entry": scope.is_superuser or bool(scope.paths(CHECK_ENTRY)),
        },
    }
