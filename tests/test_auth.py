"""Logging in: argon2 hashes, the login page, lockout after repeated failures, cookies, API tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anlian.accounts.models import ApiToken
from anlian.accounts.tokens import TOKEN_PREFIX, issue_token, revoke_token, user_for_secret
from anlian.core.errors import Invalid, NotFound

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/login/"
WRONG_PASSWORD_TEXT = "登录名或密码不正确"
LOCKED_TEXT = "登录失败次数过多"


def post_login(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in_as(client: Client):
    return client.session.get(SESSION_KEY)


# --- password storage ------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2(world):
    user = world.a.admin.user
    user.refresh_from_db()
    assert user.password.startswith("argon2$")
    assert PASSWORD not in user.password
    assert user.check_password(PASSWORD)
    assert not user.check_password(PASSWORD + "x")


def test_old_pbkdf2_hashes_still_work_and_are_upgraded(world):
    from django.contrib.auth.hashers import make_password

    user = world.a.worker.user
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    response = post_login(Client(), "A-worker", PASSWORD)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$")


# --- the login page --------------------------------------------------------------------------------


def test_login_page_renders(db):
    response = Client().get(LOGIN)
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_login_with_the_right_password(world):
    client = Client()
    response = post_login(client, "A-admin", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse(django_settings.LOGIN_REDIRECT_URL)
    assert str(logged_in_as(client)) == str(world.a.admin.user_id)
    # the session now opens the home page
    assert client.get("/").status_code == 200
    # and the login page sends a logged-in user on
    assert client.get(LOGIN).status_code == 302


def test_login_follows_a_safe_next_only(world):
    client = Client()
    response = client.post(LOGIN, {"username": "A-admin", "password": PASSWORD, "next": "/account/tokens/"})
    assert response["Location"] == "/account/tokens/"
    client = Client()
    response = client.post(LOGIN, {"username": "A-admin", "password": PASSWORD, "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil.example" not in response["Location"]


def test_wrong_password_shows_the_chinese_error(world):
    client = Client()
    response = post_login(client, "A-admin", "wrong-password")
    assert response.status_code == 200
    body = response.content.decode()
    assert WRONG_PASSWORD_TEXT in body
    assert f"{django_settings.AXES_FAILURE_LIMIT}次" in body  # it warns about the lockout
    assert logged_in_as(client) is None
    # an unknown login gets the very same answer (no account enumeration)
    unknown = post_login(Client(), "no-such-user", "wrong-password")
    assert unknown.status_code == 200 and WRONG_PASSWORD_TEXT in unknown.content.decode()


def test_inactive_account_cannot_log_in(world):
    get_user_model().objects.filter(pk=world.a.worker.user_id).update(is_active=False)
    client = Client()
    response = post_login(client, "A-worker", PASSWORD)
    assert response.status_code == 200 and logged_in_as(client) is None


def lock_out(client: Client, username: str) -> None:
    for attempt in range(django_settings.AXES_FAILURE_LIMIT):
        response = post_login(client, username, f"wrong-{attempt}")
        assert response.status_code in (200, 429)
    assert response.status_code == 429  # the last allowed failure locks


def test_lockout_after_the_failure_limit(world):
    assert django_settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for attempt in range(django_settings.AXES_FAILURE_LIMIT - 1):
        response = post_login(client, "A-admin", f"wrong-{attempt}")
        assert response.status_code == 200 and WRONG_PASSWORD_TEXT in response.content.decode()
    response = post_login(client, "A-admin", "wrong-last")
    assert response.status_code == 429
    # now even the right password is refused, with the lockout message and no session
    response = post_login(client, "A-admin", PASSWORD)
    assert response.status_code == 429
    body = response.content.decode()
    assert LOCKED_TEXT in body and "15分钟" in body
    assert logged_in_as(client) is None
    # the lock is per account and address: a colleague on the same terminal can still log in
    other = Client()
    assert post_login(other, "A-safety", PASSWORD).status_code == 302


def test_lockout_ends_after_the_cool_off(world):
    client = Client()
    lock_out(client, "A-admin")
    assert post_login(client, "A-admin", PASSWORD).status_code == 429
    # let the cool-off time pass: the recorded failures age beyond AXES_COOLOFF_TIME
    past = timezone.now() - django_settings.AXES_COOLOFF_TIME - timedelta(seconds=5)
    assert AccessAttempt.objects.filter(username="A-admin").update(attempt_time=past) >= 1
    response = post_login(client, "A-admin", PASSWORD)
    assert response.status_code == 302
    assert str(logged_in_as(client)) == str(world.a.admin.user_id)


def test_an_administrator_can_unlock(world):
    client = Client()
    lock_out(client, "A-worker")
    assert axes_reset(username="A-worker") >= 1
    assert post_login(client, "A-worker", PASSWORD).status_code == 302


def test_success_resets_the_failure_count(world):
    client = Client()
    for attempt in range(django_settings.AXES_FAILURE_LIMIT - 1):
        post_login(client, "A-admin", f"wrong-{attempt}")
    assert post_login(client, "A-admin", PASSWORD).status_code == 302
    client = Client()
    for attempt in range(django_settings.AXES_FAILURE_LIMIT - 1):  # a fresh allowance of failures
        assert post_login(client, "A-admin", f"wrong-{attempt}").status_code == 200
    assert post_login(client, "A-admin", PASSWORD).status_code == 302


def test_session_and_csrf_cookie_settings(world):
    assert django_settings.SESSION_COOKIE_HTTPONLY is True
    assert django_settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert django_settings.SESSION_COOKIE_AGE == 12 * 3600
    client = Client()
    response = post_login(client, "A-admin", PASSWORD)
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == 12 * 3600
    assert response.cookies[django_settings.CSRF_COOKIE_NAME]["samesite"] == "Lax"
    # security headers on the page itself
    page = Client().get(LOGIN)
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"


def test_logout_needs_post_and_ends_the_session(world):
    client = Client()
    post_login(client, "A-admin", PASSWORD)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert logged_in_as(client) is None


# --- API tokens --------------------------------------------------------------------------------------


def test_issue_token_stores_only_the_sha256(world):
    user = world.a.admin.user
    token, secret = issue_token(user, "手机", days=30)
    assert secret.startswith(TOKEN_PREFIX) and len(secret) > 40
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [str(v) for v in ApiToken.objects.filter(pk=token.pk).values().first().values()]
    assert secret not in stored and secret[len(TOKEN_PREFIX):] not in "".join(stored)
    assert token.prefix == secret[: len(TOKEN_PREFIX) + 6]
    assert timezone.now() + timedelta(days=29) < token.expires_at <= timezone.now() + timedelta(days=30)
    assert user_for_secret(secret) == user
    # two tokens never share a secret
    assert issue_token(user, "电脑")[1] != secret


@pytest.mark.parametrize("name, days", [("", 30), ("   ", 30), ("x" * 61, 30), ("ok", 0), ("ok", 3651), ("ok", -1)])
def test_issue_token_validates(world, name, days):
    with pytest.raises(Invalid):
        issue_token(world.a.admin.user, name, days=days)
    assert not ApiToken.objects.exists()


def test_user_for_secret_refuses_bad_tokens(world):
    user = world.a.admin.user
    token, secret = issue_token(user, "手机")
    assert user_for_secret("") is None
    assert user_for_secret(None) is None
    assert user_for_secret(TOKEN_PREFIX + "unknown-token-value") is None
    assert user_for_secret(secret[len(TOKEN_PREFIX):]) is None  # without its prefix
    assert user_for_secret(secret + "x") is None
    assert user_for_secret(secret + "x" * 100) is None  # over-long input is not even looked up
    assert user_for_secret(token.key_hash) is None  # the stored hash is not a credential

    # expired
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert user_for_secret(secret) is None
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=1))
    assert user_for_secret(secret) == user

    # inactive account
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert user_for_secret(secret) is None
    get_user_model().objects.filter(pk=user.pk).update(is_active=True)
    assert user_for_secret(secret) == user

    # revoked, by its owner only
    with pytest.raises(NotFound):
        revoke_token(world.b.admin.user, token.pk)
    with pytest.raises(NotFound):
        revoke_token(user, "1; DROP TABLE")
    assert user_for_secret(secret) == user
    revoked = revoke_token(user, token.pk)
    assert revoked.revoked_at is not None and not revoked.is_usable
    assert user_for_secret(secret) is None
    again = revoke_token(user, token.pk)  # revoking twice keeps the first time
    assert again.revoked_at == revoked.revoked_at


def test_last_used_is_written_at_most_every_five_minutes(world, django_assert_num_queries):
    token, secret = issue_token(world.a.admin.user, "手机")
    assert token.last_used_at is None
    with django_assert_num_queries(2):  # look-up + first "last used" write
        assert user_for_secret(secret) is not None
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # within five minutes: read only
        assert user_for_secret(secret) is not None
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    # four minutes ago: still no write
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=4))
    with django_assert_num_queries(1):
        user_for_secret(secret)
    # six minutes ago: written again
    stale = timezone.now() - timedelta(minutes=6)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    with django_assert_num_queries(2):
        user_for_secret(secret)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > stale + timedelta(minutes=5)


def test_production_settings_hash_with_full_strength_argon2():
    """The test run may use a cheaper argon2 (tests/settings.py); the product itself must not."""
    import anlian.settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
