"""Login, logout, lockout and personal API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anlian.accounts.models import ApiToken
from anlian.accounts.tokens import issue_token, revoke_token
from anlian.core.errors import DomainError


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("登录名或密码不正确。连续失败%(limit)s次后账号将被锁定%(minutes)s分钟。"),
    }

    def get_invalid_login_error(self):
        from django.core.exceptions import ValidationError

        return ValidationError(
            self.error_messages["invalid_login"],
            code="invalid_login",
            params={"limit": settings.AXES_FAILURE_LIMIT,
                    "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
        )


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What django-axes shows once an account is locked after repeated failures."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _("登录失败次数过多，该账号已被锁定，请在{minutes}分钟后再试，或联系管理员解锁。").format(minutes=minutes)
    if request.path.startswith("/api/"):
        from anlian.core.middleware import error_response

        return error_response(429, "login_locked", message)
    form = LoginForm(request)
    return render(request, "accounts/login.html", {"form": form, "locked_message": message}, status=429)


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    new_secret = None
    if request.method == "POST":
        try:
            days = int(request.POST.get("days") or settings.API_TOKEN_DEFAULT_DAYS)
            _token, new_secret = issue_token(request.user, request.POST.get("name", ""), days)
        except ValueError:
            messages.error(request, _("有效天数须为整数"))
        except DomainError as exc:
            messages.error(request, exc.message())
    rows = ApiToken.objects.filter(user=request.user)
    return render(request, "accounts/tokens.html", {"tokens": rows, "new_secret": new_secret})


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = revoke_token(request.user, token_id)
    messages.success(request, _("令牌“{name}”已撤销").format(name=token.name))
    return redirect("accounts:tokens")
