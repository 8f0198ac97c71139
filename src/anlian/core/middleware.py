"""Request logging and idempotent replays of API writes."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

log = logging.getLogger("anlian.request")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
STALE_IN_PROGRESS = timedelta(minutes=5)


def error_response(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "field": field}, status=status,
                        json_dumps_params={"ensure_ascii": False})


class RequestLogMiddleware:
    """One structured log line per request, with an id echoed back in `X-Request-ID`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else uuid.uuid4().hex
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        log.info("request", extra={
            "request_id": request.request_id, "method": request.method, "path": request.path,
            "status": response.status_code, "ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": user.pk if user is not None and user.is_authenticated else None,
        })
        response["X-Request-ID"] = request.request_id
        return response


def _request_fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    if request.content_type == "multipart/form-data":
        # Files may be large: fingerprint the fields plus each file's name and size.
        for key in sorted(request.POST):
            digest.update(f"{key}={request.POST.getlist(key)}\n".encode())
        for key in sorted(request.FILES):
            for f in request.FILES.getlist(key):
                digest.update(f"{key}:{f.name}:{f.size}\n".encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _api_user(request: HttpRequest):
    from anlian.accounts.tokens import bearer_secret, user_for_secret

    secret = bearer_secret(request)
    if secret:
        return user_for_secret(secret)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class IdempotencyMiddleware:
    """Replay the stored reply when the same user repeats an API write with the same key.

    A phone on a weak network retries; the first request acts, every retry within 24 h gets the
    same status and body back with `Idempotent-Replayed: true`. A key reused for a different
    request is refused, as is a retry that arrives while the first is still running.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get("Idempotency-Key")
        if key is None or request.method not in UNSAFE_METHODS or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not (1 <= len(key) <= 100 and key.isascii() and key.isprintable()):
            return error_response(400, "idempotency_key_invalid", _("Idempotency-Key 须为1到100个可打印ASCII字符"),
                                  "Idempotency-Key")
        user = _api_user(request)
        if user is None:
            return self.get_response(request)  # the API's own authentication answers
        try:
            fingerprint = _request_fingerprint(request)
        except RequestDataTooBig:
            return error_response(413, "body_too_large", _("请求内容过大"))
        return self._handle(request, user, key, fingerprint)

    def _handle(self, request: HttpRequest, user, key: str, fingerprint: str) -> HttpResponse:
        from anlian.core.models import IdempotencyRecord

        now = timezone.now()
        IdempotencyRecord.objects.filter(user=user, key=key, created_at__lt=now - settings.IDEMPOTENCY_TTL).delete()
        # A first request still "running" after minutes died with its process: free the key.
        IdempotencyRecord.objects.filter(user=user, key=key, status_code=None,
                                         created_at__lt=now - STALE_IN_PROGRESS).delete()
        try:
            with transaction.atomic():  # a savepoint: the clash must not spoil an outer transaction
                record = IdempotencyRecord.objects.create(
                    user=user, key=key, method=request.method, path=request.path[:500], request_hash=fingerprint
                )
        except IntegrityError:
            return self._replay(IdempotencyRecord.objects.filter(user=user, key=key).first(), fingerprint)
        try:
            response = self.get_response(request)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 400 or response.streaming:
            # Only a write that acted is remembered. A refused one (bad input, CSRF, a rule) changed
            # nothing, so its retry may run again, e.g. after the client fixed its CSRF token.
            record.delete()
            return response
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")
        record.body = response.content
        record.save(update_fields=["status_code", "content_type", "body"])
        return response

    @staticmethod
    def _replay(record, fingerprint: str) -> HttpResponse:
        if record is None:  # the first request failed and let go of the key just now
            return error_response(409, "idempotency_in_progress", _("相同的请求正在处理中，请稍后重试"))
        if record.request_hash != fingerprint:
            return error_response(422, "idempotency_key_reused",
                                  _("此 Idempotency-Key 已用于另一个请求"), "Idempotency-Key")
        if record.status_code is None:
            return error_response(409, "idempotency_in_progress", _("相同的请求正在处理中，请稍后重试"))
        response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
        response["Idempotent-Replayed"] = "true"
        return response


API_STATUS_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                    413: "body_too_large", 500: "server_error"}


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _values(query) -> list[str]:
    return [v for key in query for v in [key, *query.getlist(key)]]


class DomainErrorMiddleware:
    """Render a refusal raised by a page view as a page (or htmx fragment) with its status.

    Under /api/ every error is JSON: Django's own HTML answers (unknown path 404, wrong method
    405, crash 500) are replaced by {"code", "message", "field"} with the same status.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (request.path.startswith("/api/") and response.status_code >= 400
                and "json" not in response.get("Content-Type", "")):
            return self._as_json(response)
        return response

    @staticmethod
    def _as_json(response: HttpResponse) -> HttpResponse:
        status = response.status_code
        code = API_STATUS_CODES.get(status, "error")
        messages = {404: _("接口不存在"), 405: _("此接口不支持该请求方法"), 500: _("服务器内部错误，请稍后重试")}
        json_response = error_response(status, code, str(messages.get(status, response.reason_phrase)))
        if response.has_header("Allow"):
            json_response["Allow"] = response["Allow"]
        return json_response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        """PostgreSQL cannot store or compare text with NUL characters: refuse them at the door
        (query string, form fields, URL parts) rather than fail deep inside a query."""
        form = request.POST if request.method in UNSAFE_METHODS and request.content_type in FORM_TYPES else {}
        values = [*_values(request.GET), *_values(form), *(str(v) for v in view_kwargs.values())]
        if any("\x00" in v for v in values):
            from anlian.core.errors import Invalid

            return self.process_exception(request, Invalid(_("请求中含有不允许的字符"), code="nul_character"))
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.shortcuts import render

        from anlian.core.errors import DomainError

        if not isinstance(exception, DomainError):
            return None
        if request.path.startswith("/api/"):
            return error_response(exception.http_status, exception.code, exception.message(), exception.field)
        template = "core/_error.html" if getattr(request, "htmx", False) else "core/error.html"
        return render(request, template, {"title": _("无法完成操作"), "message": exception.message(),
                                          "code": exception.code}, status=exception.http_status)
