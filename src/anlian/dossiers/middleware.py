"""Regulator accounts are read-only everywhere: any write they send is refused before any view runs.

A regulator holds VIEW grants only, but some actions need no more than VIEW (report a hazard, start
a job in a visible area, personal settings). Rather than trust every app to remember regulators,
this middleware refuses every unsafe method (POST, PUT, PATCH, DELETE) from a regulator's session
or API token with 403 and nothing changed. The only exceptions change no record: logging out,
switching the language, and asking for a dossier PDF of a job they may read.
Install after AuthenticationMiddleware.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Paths a read-only account may still POST to (nothing they do there changes a record).
ALLOWED = (
    re.compile(r"^/logout/$"),
    re.compile(r"^/i18n/setlang/$"),
    re.compile(r"^/dossiers/\d+/pdf/$"),
    re.compile(r"^/api/v1/dossiers$"),
)


def _account(request: HttpRequest):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    if request.path.startswith("/api/"):
        from anlian.accounts.tokens import bearer_secret, user_for_secret

        secret = bearer_secret(request)
        if not secret:
            return None
        user = user_for_secret(secret)
        request._anlian_bearer = (secret, user)  # the API's token auth reuses it: one look-up a request
        return user
    return None


class ReadOnlyAccountsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS and not any(p.match(request.path) for p in ALLOWED):
            from anlian.dossiers.services import is_read_only

            user = _account(request)
            if user is not None and is_read_only(user):
                log.warning("read-only account %s refused %s %s", user.pk, request.method, request.path)
                return self.refuse(request)
        return self.get_response(request)

    @staticmethod
    def refuse(request: HttpRequest) -> HttpResponse:
        message = _("监管账号只能查看，不能办理或修改任何内容")
        if request.path.startswith("/api/"):
            from anlian.core.middleware import error_response

            return error_response(403, "read_only", message)
        return render(request, "core/error.html", {"title": _("无法完成操作"), "message": message,
                                                   "code": "read_only"}, status=403)
