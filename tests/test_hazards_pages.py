"""The hazard pages: the phone report 随手拍 (checked on the server, whatever the page sent), a hazard
on the phone and the desktop, my hazards, the list; company isolation and CSRF on every one."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anlian.flows.models import Instance
from anlian.hazards.models import Hazard
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from tests.conftest import client_for, csrf_client_for
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_hazards_example import Shop

pytestmark = pytest.mark.django_db
REPORT = "/hazards/m/report/"


@pytest.fixture
def shop(world) -> Shop:
    return Shop(world)


def photo(seed: int = 1) -> SimpleUploadedFile:
    return SimpleUploadedFile("p.jpg", scene(seed), content_type="image/jpeg")


def form(world, **changes) -> dict:
    data = {"description": "车床防护罩缺失", "category": "mechanical", "level": "general",
            "equipment": str(world.a.equipment.pk), "lat": "30.0", "lng": "120.0", "accuracy": "8",
            "photo__scene": photo()}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_report_page_opened_from_an_equipment_qr_has_the_place_filled(shop):
    world = shop.world
    page = client_for(world.a.worker).get(f"{REPORT}?equipment={world.a.equipment.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "A-EQ1" in html and world.a.area.name in html
    assert f'name="area" value="{world.a.area.pk}"' in html and 'name="photo__scene"' in html
    assert 'capture="environment"' in html and "video/*" in html  # photos or a clip from the camera


def test_the_equipment_qr_page_has_a_big_report_button(shop):
    world = shop.world
    page = client_for(world.a.worker).get(f"/m/equipment/{world.a.equipment.pk}/").content.decode()
    assert f'href="/hazards/m/report/?equipment={world.a.equipment.pk}"' in page and "上报隐患" in page


def test_equipment_without_an_area_asks_for_the_area(shop):
    world = shop.world
    loose = orgs.save_equipment(SYSTEM, None, org_unit=world.a.plant, area=None, code="A-EQ9", name="手推车")
    page = client_for(world.a.worker).get(f"{REPORT}?equipment={loose.pk}").content.decode()
    assert "A-EQ9" in page and '<select id="in-area" name="area"' in page
    refused = client_for(world.a.worker).post(REPORT, form(world, equipment=str(loose.pk)))
    assert refused.status_code == 404 and "请选择区域，或扫描设备二维码" in refused.content.decode()
    sent = client_for(world.a.worker).post(REPORT, form(world, equipment=str(loose.pk), area=str(world.a.area.pk)))
    assert sent.status_code == 302
    assert (Hazard.objects.get().equipment, Hazard.objects.get().area) == (loose, world.a.area)


def test_a_worker_reports_from_the_phone_and_sees_whom_it_went_to(shop):
    world = shop.world
    client = client_for(world.a.worker)
    sent = client.post(REPORT, form(world))
    hazard = Hazard.objects.get()
    assert sent.status_code == 302 and sent["Location"] == f"/hazards/m/{hazard.pk}/"
    assert (hazard.area, hazard.equipment, hazard.category, hazard.level) == (
        world.a.area, world.a.equipment, "mechanical", "general")
    assert (hazard.lat, hazard.lng, hazard.reported_by) == (30.0, 120.0, world.a.worker)
    assert hazard.stage == "dispatched" and hazard.rectify_due is not None
    page = client.get(sent["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and hazard.instance.number in html
    assert shop.fitter.name in html and shop.officer.name in html  # responsible, verifier
    assert "接收期限" in html and "整改期限" in html


def test_the_equipment_alone_fills_the_area(shop):
    world = shop.world
    sent = client_for(world.a.worker).post(REPORT, form(world, area=None))
    assert sent.status_code == 302
    assert Hazard.objects.get().area == world.a.area


@pytest.mark.parametrize("changes, message", [
    ({"photo__scene": None}, "请至少拍摄一张照片或一段视频"),
    ({"description": "   "}, "请描述隐患"),
    ({"description": "长" * 5000}, "隐患描述不能超过500个字"),
    ({"category": "bogus"}, "请选择隐患类别"),
    ({"category": None}, "请选择隐患类别"),
    ({"level": "catastrophic"}, "请选择隐患等级"),
    ({"equipment": None}, "请选择区域，或扫描设备二维码"),
])
def test_a_report_missing_what_it_needs_is_refused_on_the_server(shop, changes, message):
    world = shop.world
    refused = client_for(world.a.worker).post(REPORT, form(world, **changes))
    assert refused.status_code in (404, 422)
    assert message in refused.content.decode()
    assert not Hazard.objects.exists() and not Instance.objects.exists()


def test_photos_taken_are_kept_when_a_report_is_refused(shop):
    world = shop.world
    refused = client_for(world.a.worker).post(REPORT, form(world, description=""))
    assert refused.status_code == 422
    html = refused.content.decode()
    assert 'name="ref__scene"' in html  # the worker need not take the photo again


@pytest.mark.parametrize("field", ["area", "equipment"])
def test_another_companys_area_or_equipment_looks_missing(shop, field):
    world = shop.world
    other = world.b.area if field == "area" else world.b.equipment
    refused = client_for(world.a.worker).post(REPORT, {**form(world, equipment=None), field: str(other.pk)})
    assert refused.status_code == 404
    assert ("没有找到这个区域" if field == "area" else "没有找到这台设备") in refused.content.decode()
    assert not Hazard.objects.exists()
    shown = client_for(world.a.worker).get(f"{REPORT}?{field}={other.pk}")
    assert shown.status_code == 404 and other.name not in shown.content.decode()


@pytest.mark.parametrize("junk", ["1 OR 1=1", "<script>alert(1)</script>", "9" * 40, "-1", "１"])
def test_junk_ids_are_a_clear_refusal_never_a_500(shop, junk):
    world = shop.world
    for field in ("area", "equipment"):
        refused = client_for(world.a.worker).post(REPORT, {**form(world, equipment=None), field: junk})
        assert refused.status_code == 404, (field, junk)
        assert "<script>alert" not in refused.content.decode()
    assert client_for(world.a.worker).get(f"{REPORT}?equipment={junk}").status_code == 404
    assert not Hazard.objects.exists()


def test_a_replayed_report_is_a_second_report_only_if_sent_again(shop):
    # The page posts once (a second tap is ignored in the page); a replayed POST is a new report of
    # the same thing, which the recurrence link shows.
    world = shop.world
    client = client_for(world.a.worker)
    client.post(REPORT, form(world, photo__scene=photo(5)))
    client.post(REPORT, form(world, photo__scene=photo(6)))
    first, second = Hazard.objects.order_by("pk")
    assert second.recurrence_of == first
    html = client_for(world.a.officer).get(f"/hazards/{second.pk}/").content.decode()
    assert f'href="/hazards/{first.pk}/"' in html and "重复发生" in html


def test_the_report_needs_the_csrf_token(shop):
    world = shop.world
    refused = csrf_client_for(world.a.worker).post(REPORT, form(world))
    assert refused.status_code == 403 and not Hazard.objects.exists()


def test_pages_need_a_login(shop):
    from django.test import Client

    for url in (REPORT, "/hazards/", "/hazards/m/", "/hazards/1/", "/hazards/m/1/"):
        assert Client().get(url).status_code == 302


def reported(shop) -> Hazard:
    sent = client_for(shop.world.a.worker).post(REPORT, form(shop.world))
    assert sent.status_code == 302
    return Hazard.objects.get()


def test_the_desktop_page_shows_the_dispatch_deadlines_timeline_and_my_next_step(shop):
    hazard = reported(shop)
    page = client_for(shop.fitter).get(f"/hazards/{hazard.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert hazard.instance.number in html and "车床防护罩缺失" in html
    assert "隐患上报" in html and "自动派发" in html  # the timeline's steps
    assert f"/m/permits/{hazard.instance_id}/steps/receive/" in html  # the fitter's next step
    officer = client_for(shop.officer).get(f"/hazards/{hazard.pk}/").content.decode()
    assert "/steps/receive/" not in officer  # the officer verifies later: nothing to do now


def test_the_list_and_my_hazards(shop):
    hazard = reported(shop)
    listed = client_for(shop.officer).get("/hazards/?stage=dispatched&overdue=0").content.decode()
    assert hazard.instance.number in listed
    assert hazard.instance.number not in client_for(shop.officer).get("/hazards/?overdue=1").content.decode()
    assert client_for(shop.officer).get("/hazards/?stage=junk&page=99999").status_code == 200
    assert client_for(shop.officer).get("/hazards/?stage=%00").status_code == 422
    mine = client_for(shop.world.a.worker).get("/hazards/m/").content.decode()
    assert hazard.instance.number in mine
    assigned = client_for(shop.fitter).get("/hazards/m/?tab=assigned").content.decode()
    assert hazard.instance.number in assigned
    assert hazard.instance.number not in client_for(shop.fitter).get("/hazards/m/").content.decode()


def test_company_b_sees_nothing_of_company_a(shop):
    hazard = reported(shop)
    b = client_for(shop.world.b.admin)
    for url in (f"/hazards/{hazard.pk}/", f"/hazards/m/{hazard.pk}/"):
        answer = b.get(url)
        assert answer.status_code == 404 and hazard.instance.number not in answer.content.decode()
    assert b.get(f"/hazards/{2**70}/").status_code == 404
    for url in ("/hazards/", "/hazards/m/", "/hazards/m/?tab=assigned"):
        assert hazard.instance.number not in b.get(url).content.decode()


def test_api_report_refuses_missing_and_foreign_input(shop):
    world = shop.world
    api = client_for(world.a.worker)
    base = {"equipment_id": world.a.equipment.pk, "category": "mechanical", "level": "general",
            "description": "车床防护罩缺失", "scene": [shop.upload(world.a.worker, scene(9))]}

    def post(**changes):
        return api.post("/api/v1/hazards", {**base, **changes}, content_type="application/json")

    no_photo = post(scene=[])
    assert no_photo.status_code == 422 and no_photo.json()["message"] == "请至少拍摄一张照片或一段视频"
    assert post(description=" ").json()["message"] == "请描述隐患"
    assert post(category="bogus").json()["message"] == "请选择隐患类别"
    foreign = post(equipment_id=None, area_id=world.b.area.pk)
    assert foreign.status_code == 404 and foreign.json()["field"] == "area_id"
    assert post(equipment_id=world.b.equipment.pk).status_code == 404
    assert post(equipment_id=2**70).status_code == 422
    assert not Hazard.objects.exists()
    made = post()
    assert made.status_code == 201 and made.json()["area_id"] == world.a.area.pk  # the equipment's area
