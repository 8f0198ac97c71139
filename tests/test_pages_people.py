"""People pages: accounts, photos, role grants, custom roles and personal API tokens."""

from __future__ import annotations

import io
import re

from django.contrib.auth import get_user_model
from openpyxl import load_workbook
from PIL import Image

from anlian.accounts.models import ApiToken
from anlian.orgs.models import Person, Role, RoleGrant
from tests.conftest import client_for, csrf_client_for
from tests.test_pages import TOKEN, post_form, text


def png_bytes(size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "#c00").save(out, "PNG")
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def person_data(w, **extra) -> dict:
    return {"org_unit": w.a.team.pk, "name": "新员工", "employee_no": "A900", "phone": "13900009000",
            "is_active": "on", **extra}


def test_it_creates_a_person_with_a_login_and_a_photo(world):
    client = csrf_client_for(world.a.admin)
    data = person_data(world, username="new-hand", password="a-long-pass-2026",
                       photo=upload("me.png", png_bytes(), "image/png"))
    response = post_form(client, "/people/new/", data)
    person = Person.objects.get(employee_no="A900")
    assert response.status_code == 302 and response["Location"] == f"/people/{person.pk}/"
    assert person.user.username == "new-hand" and person.user.check_password("a-long-pass-2026")
    assert "已保存人员“新员工”" in text(client.get(response["Location"]))

    photo = client.get(f"/people/{person.pk}/photo")
    assert photo.status_code == 200
    assert photo["Content-Type"] == "image/jpeg" and photo["X-Content-Type-Options"] == "nosniff"
    assert photo["Content-Disposition"].startswith("inline")
    body = b"".join(photo.streaming_content)
    assert body[:3] == b"\xff\xd8\xff" and Image.open(io.BytesIO(body)).size == (40, 30)


def test_it_refuses_an_html_file_renamed_jpg_and_keeps_nothing(world):
    client = csrf_client_for(world.a.admin)
    fake = upload("photo.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg")
    response = post_form(client, f"/people/{world.a.worker.pk}/edit/",
                         person_data(world, name="改了名", employee_no="A003", photo=fake))
    assert response.status_code == 422 and "无法识别的图片文件" in text(response)
    world.a.worker.refresh_from_db()
    assert world.a.worker.name == "甲公司工人" and not world.a.worker.photo  # the whole edit rolled back


def test_a_person_without_a_photo_gets_a_placeholder_jpeg(world):
    response = client_for(world.a.worker).get(f"/people/{world.a.worker.pk}/photo")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response.content[:3] == b"\xff\xd8\xff"


def test_it_shows_password_rules_on_the_field(world):
    response = post_form(csrf_client_for(world.a.admin), f"/people/{world.a.worker.pk}/edit/",
                         person_data(world, employee_no="A003", username="A-worker", password="123"))
    assert response.status_code == 422 and re.search(r"has-error.*?密码", text(response), re.S)
    assert get_user_model().objects.get(username="A-worker").check_password("correct-horse-battery-9")


def test_it_refuses_a_duplicate_employee_number(world):
    response = post_form(csrf_client_for(world.a.admin), "/people/new/", person_data(world, employee_no="A001"))
    assert response.status_code == 409 and "本公司已有工号为“A001”的人员" in text(response)
    assert Person.objects.filter(employee_no="A001").count() == 1


def test_it_filters_and_exports_people(world):
    client = client_for(world.a.admin)
    body = text(client.get(f"/people/?unit={world.a.team.pk}"))
    assert world.a.worker.employee_no in body and world.a.admin.employee_no not in body
    response = client.get("/people/?format=xlsx")
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("工号", "姓名")
    assert sorted(r[0] for r in rows[1:]) == ["A001", "A002", "A003"]


def test_it_grants_and_revokes_a_role(world):
    client = csrf_client_for(world.a.admin)
    guardian = Role.objects.get(code="guardian", owner=None)
    url = f"/people/{world.a.worker.pk}/grants/"
    response = post_form(client, url, {"role": guardian.pk, "org_unit": world.a.plant.pk},
                         form_url=f"/people/{world.a.worker.pk}/")
    grant = RoleGrant.objects.get(person=world.a.worker, role=guardian)
    assert response.status_code == 302 and grant.org_unit == world.a.plant
    response = post_form(client, url, {"role": guardian.pk, "org_unit": world.a.plant.pk},
                         form_url=f"/people/{world.a.worker.pk}/")
    assert response.status_code == 409 and "该人员已在此范围拥有此角色" in text(response)

    response = post_form(client, f"/grants/{grant.pk}/revoke/", {}, form_url=f"/people/{world.a.worker.pk}/")
    assert response.status_code == 302 and not RoleGrant.objects.filter(pk=grant.pk).exists()
    assert client.get(f"/grants/{grant.pk}/revoke/").status_code == 405


def test_nobody_grants_more_than_they_hold(world):
    """The safety officer may see people but not grant roles at all."""
    client = csrf_client_for(world.a.officer)
    admin_role = Role.objects.get(code="admin", owner=None)
    before = RoleGrant.objects.count()
    token = TOKEN.search(text(client.get(f"/people/{world.a.worker.pk}/"))).group(1)
    response = client.post(f"/people/{world.a.worker.pk}/grants/",
                           {"role": admin_role.pk, "org_unit": world.a.plant.pk, "csrfmiddlewaretoken": token})
    assert response.status_code == 400  # no unit where they may grant: not a valid choice
    response = client.post(f"/grants/{world.a.worker.grants.get().pk}/revoke/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 403
    assert RoleGrant.objects.count() == before


def test_it_defines_and_edits_a_custom_role(world):
    client = csrf_client_for(world.a.admin)
    data = {"owner": world.a.unit.pk, "code": "gate-keeper", "name": "门卫", "permissions": ["org.view"]}
    response = post_form(client, "/roles/new/", data)
    role = Role.objects.get(code="gate-keeper")
    assert response.status_code == 302 and role.owner == world.a.unit
    assert "查看组织、区域、设备和人员" in text(client.get("/roles/"))
    response = post_form(client, f"/roles/{role.pk}/edit/", {**data, "name": "门岗"})
    role.refresh_from_db()
    assert response.status_code == 302 and role.name == "门岗"
    response = post_form(client, "/roles/new/", {**data, "code": "applicant"})
    assert response.status_code == 409 and "角色代码“applicant”已存在" in text(response)
    builtin = Role.objects.get(code="admin", owner=None)
    response = client.get(f"/roles/{builtin.pk}/edit/")
    assert response.status_code in (403, 404)


def test_it_issues_a_token_once_and_revokes_it(world):
    client = csrf_client_for(world.a.worker)
    response = post_form(client, "/account/tokens/", {"name": "门禁对接", "days": "30"})
    token = ApiToken.objects.get(user=world.a.worker.user)
    secret = re.search(r'id="new-secret">(anl_[^<]+)<', text(response)).group(1)
    assert secret.startswith(token.prefix) and "只显示这一次" in text(response)
    page = text(client.get("/account/tokens/"))
    assert secret not in page and token.prefix in page
    response = post_form(client, f"/account/tokens/{token.pk}/revoke/", {}, form_url="/account/tokens/")
    token.refresh_from_db()
    assert response.status_code == 302 and token.revoked_at is not None
    assert "令牌“门禁对接”已撤销" in text(client.get("/account/tokens/"))
