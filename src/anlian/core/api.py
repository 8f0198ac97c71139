"""The /api/v1/ application: authentication, error shape and the routers of every app.

Every error leaves as {"code", "message", "field"} with the right status; bad input is a 4xx,
never a 500. Authentication: `Authorization: Bearer anl_…` (a personal token) or the browser
session, whose writes must carry the CSRF token.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.parser import Parser
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth
from ninja.utils import check_csrf

from anlian.accounts.tokens import user_for_secret
from anlian.core.errors import DomainError, Invalid


class CsrfFailed(DomainError):
    code = "csrf_failed"
    http_status = 403

    def message(self) -> str:
        return str(_("CSRF 校验失败，请刷新页面后重试"))


class TokenAuth(HttpBearer):
    """`Authorization: Bearer anl_…` with a personal token from the account page."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        stashed = getattr(request, "_anlian_bearer", None)  # looked up already (the read-only check)
        user = stashed[1] if stashed is not None and stashed[0] == token else user_for_secret(token)
        if user is None:
            # A client that sent a token meant to use it: say so rather than fall back to a session.
            raise AuthenticationError()
        request.user = user
        return user


class SessionCsrfAuth(SessionAuth):
    """The browser session. Only a logged-in session is CSRF-checked, so that a request with no
    credentials at all gets 401 (not 403), and a forged write gets 403 "csrf_failed"."""

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise CsrfFailed()
        return user


class JsonParser(Parser):
    """JSON bodies, refusing text with NUL characters, which PostgreSQL cannot store."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = super().parse_body(request)
        if _has_nul(data):
            raise Invalid(_("请求中含有不允许的字符"), code="nul_character")
        return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


api = NinjaAPI(
    parser=JsonParser(),
    title="Anlian API",
    version="1",
    urls_namespace="api",
    auth=[TokenAuth(), SessionCsrfAuth()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _error(request: HttpRequest, status: int, code: str, message: str, field: str | None = None):
    return api.create_response(request, {"code": code, "message": message, "field": field}, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError):
    return _error(request, exc.http_status, exc.code, exc.message(), exc.field)


LOCATIONS = {"body", "query", "path", "header", "cookie", "form", "file"}


def _field_of(loc: tuple | list) -> str | None:
    parts = list(loc)
    if parts and parts[0] in LOCATIONS:
        parts = parts[1:]
    if parts and parts[0] == "payload":  # the body parameter's own name, not a field of it
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or None


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    field = _field_of(first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return _error(request, 422, "unknown_field", _("不认识的字段：{f}").format(f=field), field)
    if kind == "missing":
        if field is None:
            return _error(request, 422, "missing_field", _("缺少请求内容"), None)
        return _error(request, 422, "missing_field", _("缺少必填字段：{f}").format(f=field), field)
    if field is None and kind in {"model_attributes_type", "model_type", "dict_type"}:
        # Valid JSON, but not an object (a list, a string, a number).
        return _error(request, 400, "malformed_json", _("请求内容须为 JSON 对象"), None)
    return _error(request, 422, "invalid_value",
                  _("字段 {f} 的值无效：{m}").format(f=field, m=first.get("msg", "")), field)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError):
    return _error(request, 401, "unauthenticated", _("未登录，或令牌无效、已过期、已撤销"))


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404):
    return _error(request, 404, "not_found", _("对象不存在或你无权查看"))


HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 429: "too_many_requests"}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError):
    if isinstance(exc.__cause__, DomainError):  # refused by our body parser (JsonParser)
        return on_domain_error(request, exc.__cause__)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # ninja wraps the parser's JSONDecodeError / UnicodeDecodeError in a bare 400.
        return _error(request, 400, "malformed_json", _("请求内容不是有效的 JSON"))
    return _error(request, exc.status_code, HTTP_CODES.get(exc.status_code, "error"), str(exc.message))


@api.exception_handler(RawPostDataException)
def on_form_body(request: HttpRequest, exc: RawPostDataException):
    # A browser session's CSRF check read a form body as a form; this endpoint wants JSON.
    return _error(request, 422, "json_required", _("请求内容须为 JSON"))


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig):
    return _error(request, 413, "body_too_large", _("请求内容过大"))


def _register_routers() -> None:
    from anlian.accounts.api import router as accounts_router
    from anlian.audit.api import router as audit_router
    from anlian.dossiers.api import router as dossiers_router
    from anlian.flows.api import router as flows_router
    from anlian.orgs.api import router as orgs_router
    from anlian.seal.api import router as seal_router
    from anlian.sensors.api import router as sensors_router
    from anlian.hazards import api_ledger, api_pages, api_supervision, api_timers
    from anlian.hazards.api import router as hazards_router
    from anlian.notify.api import router as notify_router
    from anlian.notify.api_escalation import router as notify_escalation_router
    from anlian.notify.api_routing import router as notify_routing_router
    from anlian.training.api import router as training_router
    from anlian.workforce import api_badges, api_certificates, api_contractors, api_imports, api_qualification

    for router in (accounts_router, orgs_router, flows_router, training_router, api_contractors.router,
                   api_certificates.router, api_imports.router, api_badges.router, api_qualification.router,
                   hazards_router, api_pages.router, api_timers.router, api_ledger.router, api_supervision.router,
                   notify_router, notify_routing_router, notify_escalation_router, seal_router, audit_router, dossiers_router, sensors_router):
        api.add_router("/", router)


_register_routers()
