"""Refusals as typed errors: a stable code, an HTTP status, a translated message and the field.

Pages render `message()`; the API returns {"code", "message", "field"}. Tests assert on `code`,
which stays the same when the Chinese wording is edited.
"""

from __future__ import annotations

from django.utils.translation import gettext as _


class DomainError(Exception):
    code = "bad_request"
    http_status = 400

    def __init__(self, message: str | None = None, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self._message = message
        self.field = field
        if code:
            self.code = code

    def message(self) -> str:
        return str(self._message or _("请求无效"))

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message(), "field": self.field}


class NotFound(DomainError):
    code = "not_found"
    http_status = 404

    def message(self) -> str:
        return str(self._message or _("对象不存在或你无权查看"))


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403

    def message(self) -> str:
        return str(self._message or _("你没有执行此操作的权限"))


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class Invalid(DomainError):
    """Input that is well-formed but breaks a rule (422)."""

    code = "invalid"
    http_status = 422
