"""Workflow template pages: safety staff list, read, import, copy, edit (with live checking), publish
and export templates; bad sources are refused with every problem named, and nothing is stored."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from anlian.flows import preview, services
from anlian.flows.core import load_template
from anlian.flows.models import FlowTemplate, TemplateStatus, TemplateVersion
from anlian.flows.shipped import load_shipped, shipped_templates
from anlian.orgs.access import SYSTEM
from tests.conftest import World, client_for, csrf_client_for

SIMPLE = """\
# 简单检查 — a comment that export must keep
key: simple-check
name: 简单检查
kind: general
steps:
  - key: apply
    name: 申请
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
      - {key: lel, label: 可燃气体, type: number, unit: "%LEL", min: 0, max: 10}
  - key: confirm
    name: 安全确认
    kind: approval
    actor: {role: safety_officer}
"""

FULL = """\
key: full-demo
name: 全功能演示
kind: permit
validity: 72h
max_extension: 1h30m
guards:
  - area_not_frozen
  - weather_allows: {outdoor_only: true}
  - qualified: {who: operators, work_type: 焊接与热切割作业}
conflicts:
  - {with: confined-space, policy: endorse}
  - {with: blind-plate}
resume_requires: [gas]
steps:
  - key: apply
    name: 作业申请
    fields:
      - {key: leader, label: 作业负责人, type: person, required: true}
      - {key: operators, label: 动火人, type: person, many: true}
      - {key: method, label: 动火方式, type: choice, options: [电焊, 其他]}
      - {key: method_other, label: 其他方式, type: text, show_if: {field: method, equals: 其他}}
      - key: measures
        label: 安全措施
        type: checklist
        items: [{key: m1, label: 清除易燃物}, 配备灭火器]
    photos:
      - {key: crew, label: 人员状态, hint: 防护用品, min: 1, max: 5}
      - {key: extra, label: 补充照片}
  - key: gas
    name: 气体分析
    actor: {role: analyst, scope: plant}
    valid_for: {for: 30m, through: start}
    fields: [{key: lel, label: 可燃气体, type: number, unit: "%LEL", min: 0, max: 0.5, required: true}]
  - key: sign
    name: 会签
    kind: approval
    approval:
      mode: all
      actors: [{role: approver_plant}, {person_field: leader}]
      return_to: [apply]
    presence: photo
    cc: [{role: safety_officer}]
  - key: start
    name: 开始作业
    actor: {person_field: leader}
  - key: patrol
    name: 巡检
    repeat: {every: 2h, until: finish}
  - key: finish
    name: 完工
  - key: recheck
    name: 二次巡检
    after: {step: finish, at_least: 30m, at_most: 4h}
  - key: review
    name: 复核
    kind: review
    after: [finish]
    approval: {mode: any, actors: [{role: process_supervisor}, {role: manager}]}
    deadline: 24h
"""


def text(response) -> str:
    return response.content.decode()


def page_text(response) -> str:
    """What a person reads: the page without tags, entities resolved."""
    return html.unescape(re.sub(r"<[^>]+>", "", text(response)))


def markup(response) -> str:
    return html.unescape(text(response))


def own_template(owner, source: str = SIMPLE, publish: bool = True) -> FlowTemplate:
    return services.save_version(SYSTEM, None, source, owner=owner, publish=publish).template


def shipped(key: str = "hot-work-2") -> FlowTemplate:
    return FlowTemplate.objects.get(owner=None, key=key)


def stored() -> tuple[int, int]:
    return FlowTemplate.objects.count(), TemplateVersion.objects.count()


def url(name: str, template: FlowTemplate | None = None, version: TemplateVersion | None = None) -> str:
    kwargs = {}
    if template is not None:
        kwargs["template_id"] = template.pk
    if version is not None:
        kwargs["version_id"] = version.pk
    return reverse(f"flows:{name}", kwargs=kwargs)


# --- list --------------------------------------------------------------------------------------------


def test_list_shows_shipped_and_own_templates_never_another_companys(world: World):
    own_template(world.a.plant)
    own_template(world.b.plant, SIMPLE.replace("简单检查", "乙公司专用检查"))
    response = client_for(world.a.officer).get(url("list"))
    assert response.status_code == 200
    body = text(response)
    for path in shipped_templates().values():
        assert load_template(path.read_text(encoding="utf-8")).name in body
    assert "简单检查" in body and "乙公司专用检查" not in body
    assert "本单位模板" in body and "内置模板" in body
    # kind, published version and the number of versions per row
    row = re.search(r"简单检查.*?</tr>", body, re.S).group(0)
    assert "通用" in row and "v1" in row and re.search(r'class="num">1<', row)
    assert "乙公司专用检查" in text(client_for(world.b.officer).get(url("list")))


def test_nav_links_to_the_template_list(world: World):
    assert url("list") in text(client_for(world.a.officer).get(reverse("home")))


# --- import ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["file", "paste"])
def test_import_stores_a_draft_version(world: World, how):
    client = client_for(world.a.officer)
    data = {"owner": world.a.plant.pk}
    if how == "file":
        data["file"] = SimpleUploadedFile("simple.yaml", SIMPLE.encode(), content_type="application/x-yaml")
    else:
        data["source"] = SIMPLE
    response = client.post(url("import"), data)
    template = FlowTemplate.objects.get(owner=world.a.plant, key="simple-check")
    assert response.status_code == 302 and response["Location"] == url("detail", template)
    version = template.versions.get()
    assert (version.number, version.status, version.source) == (1, TemplateStatus.DRAFT, SIMPLE)
    assert version.created_by == world.a.officer.user
    assert "已导入" in page_text(client.get(response["Location"]))


def test_import_can_publish_at_once(world: World):
    response = client_for(world.a.officer).post(url("import"), {"owner": world.a.plant.pk, "source": SIMPLE,
                                                                "publish": "on"})
    assert response.status_code == 302
    assert FlowTemplate.objects.get(key="simple-check").published().number == 1


def _bad(source: str) -> dict:
    return {"source": source}


def _file(data: bytes, name: str = "bad.yaml") -> dict:
    return {"file": SimpleUploadedFile(name, data, content_type="application/x-yaml")}


BAD_IMPORTS = {
    "yaml syntax": (_bad("key: x\nname: [未闭合\nsteps: []\n"), 422, ["第3行", "YAML 语法错误"]),
    "tab indent": (_bad("key: x\nsteps:\n\t- key: a\n"), 422, ["第3行第1列", "Tab"]),
    "unknown step kind": (_bad(SIMPLE.replace("kind: approval", "kind: vote")), 422,
                          ["第2步「confirm」", "kind 必须是 task, approval, review 之一", "vote"]),
    "wrong field type": (_bad(SIMPLE.replace("type: number", "type: numbr")), 422,
                         ["第1步「apply」 › 第2个字段「lel」", "type 必须是", "numbr"]),
    "max not a number": (_bad(SIMPLE.replace("max: 10", "max: ten")), 422,
                         ["第1步「apply」 › 第2个字段「lel」：max 必须是数字"]),
    "duplicate yaml keys": (_bad(SIMPLE.replace("kind: general\n", "kind: general\nname: 另一个名字\n")), 422,
                            ["第5行", "键「name」重复（第3行已有）"]),
    "duplicate step keys": (_bad(SIMPLE.replace("key: confirm", "key: apply")), 422,
                            ["第2步「apply」：代码与第1步重复"]),
    "several problems at once": (_bad(SIMPLE.replace("max: 10", "max: ten").replace("kind: general", "kind: x")),
                                 422, ["发现 2 处错误", "max 必须是数字", "模板：kind 必须是"]),
    "not a mapping": (_bad("- 只是\n- 一个列表\n"), 422, ["模板：必须是“键: 值”形式的映射"]),
    "too deep": (_bad("[" * 3000), 422, ["YAML"]),
    "huge paste": (_bad("# " + "x" * 300_000 + "\n" + SIMPLE), 413, ["模板过大", "256 KB"]),
    "huge file ~2 MB": (_file(("# " + "安全" * 350_000 + "\n" + SIMPLE).encode()), 413, ["模板过大"]),
    "binary garbage": (_file(bytes(range(256)) * 64, "garbage.yaml"), 400, ["不是文本文件"]),
    "non-UTF-8": (_file(SIMPLE.encode("gbk")), 400, ["不是 UTF-8 编码", "第"]),
    "control characters": (_file(b"key: x\x07y\nname: n\n"), 422, ["不允许的字符"]),
    "nothing given": ({}, 400, ["请选择模板文件或粘贴模板内容"]),
    "both given": ({**_bad(SIMPLE), **_file(SIMPLE.encode())}, 400, ["不要同时提供"]),
}


@pytest.mark.parametrize("case", BAD_IMPORTS)
def test_import_refuses_bad_sources_precisely_and_stores_nothing(world: World, case):
    payload, status, expected = BAD_IMPORTS[case]
    before = stored()
    response = client_for(world.a.officer).post(url("import"), {"owner": world.a.plant.pk, **payload})
    assert response.status_code == status, page_text(response)[:2000]
    body = page_text(response)
    for part in expected:
        assert part in body, (case, part)
    assert "导入模板" in body  # the form is shown again
    assert stored() == before


def test_import_refuses_a_body_beyond_the_upload_limit(world: World):
    """~2 MB pasted (over Django's 1 MB form limit) is refused before any view code runs."""
    before = stored()
    response = client_for(world.a.officer).post(url("import"), {"owner": world.a.plant.pk,
                                                                "source": "x" * 2_000_000 + SIMPLE})
    assert response.status_code == 400
    assert stored() == before


def test_import_keeps_the_pasted_source_after_a_refusal(world: World):
    bad = SIMPLE.replace("max: 10", "max: ten")
    response = client_for(world.a.officer).post(url("import"), {"owner": world.a.plant.pk, "source": bad})
    assert response.status_code == 422
    assert bad in page_text(response)


def test_import_into_an_existing_key_adds_a_version(world: World):
    template = own_template(world.a.plant)
    response = client_for(world.a.officer).post(url("import"), {
        "owner": world.a.plant.pk, "source": SIMPLE.replace("安全确认", "安全员确认")})
    assert response.status_code == 302
    assert list(template.versions.order_by("number").values_list("number", "status")) == [
        (1, "published"), (2, "draft")]


def test_a_worker_cannot_import(world: World):
    client = client_for(world.a.worker)
    assert client.get(url("import")).status_code == 403
    before = stored()
    assert client.post(url("import"), {"owner": world.a.team.pk, "source": SIMPLE}).status_code == 403
    assert stored() == before


# --- live validation ---------------------------------------------------------------------------------


def test_live_validation_of_a_valid_source_shows_the_preview(world: World):
    response = client_for(world.a.officer).post(url("validate"), {"source": SIMPLE}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = markup(response)
    assert 'data-ok="1"' in body and "校验通过" in body and "共 2 个步骤" in body
    assert "<html" not in body  # a fragment, not a page
    for part in ("申请", "安全确认", "作业内容", "范围 0 – 10%LEL", "角色「安全员」", "必填"):
        assert part in body, part


def test_live_validation_lists_every_problem_in_chinese(world: World):
    bad = SIMPLE.replace("type: number", "type: numbr").replace("max: 10", "max: ten").replace(
        "kind: approval", "kind: vote")
    response = client_for(world.a.officer).post(url("validate"), {"source": bad}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'data-ok="0"' in markup(response)
    assert "steps[0] (apply).fields[1] (lel): max must be a number" in markup(response)  # the engine's own line
    body = page_text(response)
    assert "校验通过" not in body and "发现 4 处错误" in body
    assert "第1步「apply」 › 第2个字段「lel」：type 必须是" in body
    assert "第1步「apply」 › 第2个字段「lel」：max 必须是数字" in body
    assert "第1步「apply」 › 第2个字段「lel」：只有 number 类型的字段才能设置 min/max" in body
    assert "第2步「confirm」：kind 必须是" in body


def test_live_validation_of_syntax_errors_points_at_the_line(world: World):
    body = markup(client_for(world.a.officer).post(url("validate"), {"source": "key: a\nname: b: c\n"}))
    assert "第2行第8列" in body and 'data-line="2"' in body


def test_live_validation_refuses_a_changed_key_when_editing(world: World):
    body = page_text(client_for(world.a.officer).post(
        url("validate"), {"source": SIMPLE, "expect_key": "other-key"}))
    assert "模板代码不能修改（应为 other-key）" in body and "校验通过" not in body


def test_live_validation_needs_login_and_post(world: World):
    from django.test import Client

    assert Client().post(url("validate"), {"source": SIMPLE}).status_code == 302
    assert client_for(world.a.officer).get(url("validate")).status_code == 405


def test_live_validation_of_empty_and_huge_sources(world: World):
    client = client_for(world.a.officer)
    assert "模板内容为空" in page_text(client.post(url("validate"), {"source": "   "}))
    assert "模板过大" in page_text(client.post(url("validate"), {"source": "#" * 300_000}))


# --- editing and versions ----------------------------------------------------------------------------


def test_edit_page_shows_the_newest_source_and_its_check(world: World):
    template = own_template(world.a.plant)
    response = client_for(world.a.officer).get(url("edit", template))
    assert response.status_code == 200
    body = markup(response)
    assert "# 简单检查 — a comment that export must keep" in body
    assert "校验通过" in body and 'hx-post="' + url("validate") in body
    assert 'name="action" value="draft"' in body and 'name="action" value="publish"' in body


def test_saving_makes_a_new_version_and_running_jobs_keep_theirs(world: World):
    template = own_template(world.a.unit)
    v1 = template.published()
    job = services.start(world.a.admin.user, v1, world.a.area)
    client = client_for(world.a.admin)

    v2_source = SIMPLE.replace("安全确认", "安全员现场确认")
    response = client.post(url("edit", template), {"source": v2_source, "action": "publish"})
    assert response.status_code == 302 and response["Location"] == url("detail", template)
    v2 = template.versions.get(number=2)
    assert (v2.status, v2.source) == (TemplateStatus.PUBLISHED, v2_source)
    v1.refresh_from_db()
    assert v1.status == TemplateStatus.RETIRED
    job.refresh_from_db()
    assert job.version_id == v1.pk  # the running job still follows v1
    assert services.state_of(job).status == "active"
    assert services.template_of(job.version).step("confirm").name == "安全确认"
    assert [v.pk for v in services.startable_versions(world.a.admin.user).filter(template=template)] == [v2.pk]

    response = client.post(url("edit", template), {"source": SIMPLE, "action": "draft"})
    assert response.status_code == 302
    assert list(template.versions.order_by("number").values_list("number", "status")) == [
        (1, "retired"), (2, "published"), (3, "draft")]
    detail = page_text(client.get(url("detail", template)))
    assert "已保存为第 3 版（草稿）" in detail
    assert re.search(r"v1\s+已停用.*?\s1\s", detail, re.S)  # one job on v1


def test_edit_can_start_from_an_older_version(world: World):
    template = own_template(world.a.plant)
    services.save_version(SYSTEM, template, SIMPLE.replace("安全确认", "第二版确认"))
    v1 = template.versions.get(number=1)
    body = page_text(client_for(world.a.officer).get(url("edit", template) + f"?from={v1.pk}"))
    assert "基于 v1" in body and "第二版确认" not in body
    other = own_template(world.a.plant, SIMPLE.replace("simple-check", "other"))
    assert client_for(world.a.officer).get(
        url("edit", template) + f"?from={other.versions.get().pk}").status_code == 404


def test_a_refused_save_keeps_the_source_and_names_every_problem(world: World):
    template = own_template(world.a.plant)
    client = client_for(world.a.officer)
    bad = SIMPLE.replace("max: 10", "max: ten").replace("kind: approval", "kind: vote")
    response = client.post(url("edit", template), {"source": bad, "action": "publish"})
    assert response.status_code == 422
    body = page_text(response)
    assert bad in body  # the textarea holds exactly what was typed
    assert "模板有 2 处错误" in body and "max 必须是数字" in body and "第2步「confirm」：kind 必须是" in body
    assert template.versions.count() == 1


def test_a_changed_key_is_refused_by_the_service_with_the_source_kept(world: World):
    template = own_template(world.a.plant)
    changed = SIMPLE.replace("key: simple-check", "key: renamed")
    response = client_for(world.a.officer).post(url("edit", template), {"source": changed, "action": "draft"})
    assert response.status_code == 422
    body = page_text(response)
    assert "模板代码不能修改（应为 simple-check）" in body and "key: renamed" in body
    assert template.versions.count() == 1


def test_publishing_a_draft(world: World):
    template = own_template(world.a.plant)
    draft = services.save_version(SYSTEM, template, SIMPLE.replace("安全确认", "确认2"))
    client = client_for(world.a.officer)
    assert client.get(url("publish", template, draft)).status_code == 405
    page = markup(client.get(url("detail", template)))
    assert url("publish", template, draft) in page and "发布" in page
    response = client.post(url("publish", template, draft))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == TemplateStatus.PUBLISHED
    assert template.versions.get(number=1).status == TemplateStatus.RETIRED
    assert "已发布第 2 版" in page_text(client.get(response["Location"]))


def test_people_without_manage_rights_cannot_edit_or_publish(world: World):
    template = own_template(world.a.plant, publish=False)
    draft = template.versions.get()
    worker = client_for(world.a.worker)  # reads the company's templates, manages nothing
    assert worker.get(url("detail", template)).status_code == 200
    assert url("edit", template) not in text(worker.get(url("detail", template)))
    assert worker.get(url("edit", template)).status_code == 403
    assert worker.post(url("edit", template), {"source": SIMPLE, "action": "publish"}).status_code == 403
    assert worker.post(url("publish", template, draft)).status_code == 403
    assert client_for(world.b.admin).post(url("publish", template, draft)).status_code == 404
    assert client_for(world.a.officer).get(url("edit", template)).status_code == 200
    draft.refresh_from_db()
    assert draft.status == TemplateStatus.DRAFT


# --- shipped templates -------------------------------------------------------------------------------


def test_shipped_templates_are_read_only_but_can_be_copied(world: World):
    template = shipped()
    before = stored()
    client = client_for(world.a.officer)
    response = client.get(url("edit", template))
    assert response.status_code == 403
    body = markup(response)
    assert "内置模板不能直接修改" in body and url("copy", template) in body
    source = template.published().source
    response = client.post(url("edit", template), {"source": source, "action": "publish"})
    assert response.status_code == 403 and "内置模板不能直接修改" in page_text(response)
    assert client.post(url("publish", template, template.published())).status_code in (302, 403)
    assert stored() == before

    detail = markup(client.get(url("detail", template)))
    assert "内置 · 只读" in detail and "复制为本单位模板" in detail and url("edit", template) not in detail

    response = client.post(url("copy", template), {"owner": world.a.plant.pk, "key": "hot-work-2-a"})
    copy = FlowTemplate.objects.get(owner=world.a.plant, key="hot-work-2-a")
    assert response.status_code == 302 and response["Location"] == url("detail", copy)
    version = copy.versions.get()
    assert version.status == TemplateStatus.DRAFT
    assert load_template(version.source).steps == load_template(source).steps
    assert client.get(url("edit", copy)).status_code == 200
    # the shipped template is unchanged
    assert template.versions.count() == 1 and template.published().source == source


def test_copy_refuses_a_taken_or_malformed_key(world: World):
    own_template(world.a.plant)
    client = client_for(world.a.officer)
    before = stored()
    response = client.post(url("copy", shipped()), {"owner": world.a.plant.pk, "key": "simple-check"})
    assert response.status_code == 409 and "已有代码为 simple-check 的模板" in page_text(response)
    response = client.post(url("copy", shipped()), {"owner": world.a.plant.pk, "key": "Hot Work"})
    assert response.status_code == 400 and "小写字母开头" in page_text(response)
    assert stored() == before


# --- export ------------------------------------------------------------------------------------------


def test_export_returns_the_stored_yaml_byte_for_byte(world: World):
    template = own_template(world.a.plant)
    version = template.versions.get()
    response = client_for(world.a.officer).get(url("export", template, version))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-yaml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="simple-check-v1.yaml"'
    assert response.content == SIMPLE.encode("utf-8")

    ship = shipped()
    response = client_for(world.a.officer).get(url("export", ship, ship.published()))
    assert response.content.decode("utf-8") == shipped_templates()["hot-work-2"].read_text(encoding="utf-8")
    assert response["Content-Disposition"] == f'attachment; filename="hot-work-2-v{ship.published().number}.yaml"'


def test_an_exported_template_imports_again_unchanged(world: World):
    ship = shipped("loto")
    exported = client_for(world.a.officer).get(url("export", ship, ship.published())).content
    response = client_for(world.a.officer).post(url("import"), {
        "owner": world.a.plant.pk, "file": SimpleUploadedFile("loto-v1.yaml", exported)})
    assert response.status_code == 302
    assert FlowTemplate.objects.get(owner=world.a.plant, key="loto").versions.get().source.encode() == exported


# --- company isolation -------------------------------------------------------------------------------


def test_another_company_cannot_reach_or_change_a_template(world: World):
    template = own_template(world.a.plant, SIMPLE.replace("简单检查", "甲公司秘密模板"))
    version = template.versions.get()
    draft = services.save_version(SYSTEM, template, SIMPLE)
    attacker = client_for(world.b.admin)
    before = stored()
    for name, target in (("detail", (template,)), ("edit", (template,)), ("copy", (template,)),
                         ("version", (template, version)), ("export", (template, version))):
        assert attacker.get(url(name, *target)).status_code == 404, name
    assert attacker.post(url("edit", template), {"source": SIMPLE, "action": "publish"}).status_code == 404
    assert attacker.post(url("publish", template, draft)).status_code == 404
    assert attacker.post(url("copy", template), {"owner": world.b.plant.pk, "key": "stolen"}).status_code == 404
    # a shipped template's id with A's version id does not open A's version either
    assert attacker.get(url("export", shipped(), version)).status_code == 404
    # importing into A's org unit: the unit is not a choice for B
    response = attacker.post(url("import"), {"owner": world.a.plant.pk, "source": SIMPLE})
    assert response.status_code == 400
    assert stored() == before
    draft.refresh_from_db()
    assert draft.status == TemplateStatus.DRAFT
    assert "甲公司秘密模板" not in text(attacker.get(url("list")))
    assert world.a.plant.name not in text(attacker.get(url("import")))


def test_every_template_page_refuses_a_foreign_company(world: World):
    """Every flows URL with a template_id / version_id answers 403/404/405 to company B."""
    from tests.test_scoping_matrix import walk
    from django.urls import get_resolver

    template = own_template(world.a.plant)
    version = template.versions.get()
    attacker = client_for(world.b.admin)
    routes = [r for r in walk(get_resolver().url_patterns) if r[1].startswith("flows:") and r[2]]
    assert len(routes) >= 6
    for _route, name, params in routes:
        kwargs = {"template_id": template.pk, "version_id": version.pk}
        target = reverse(name, kwargs={p: kwargs[p] for p in params})
        for method in ("get", "post"):
            assert getattr(attacker, method)(target).status_code in (403, 404, 405), (method, target)


# --- CSRF --------------------------------------------------------------------------------------------


def test_every_post_needs_the_csrf_token(world: World):
    template = own_template(world.a.plant, publish=False)
    draft = template.versions.get()
    client = csrf_client_for(world.a.officer)
    before = stored()
    posts = [
        (url("import"), {"owner": world.a.plant.pk, "source": SIMPLE.replace("simple-check", "new-one")}),
        (url("edit", template), {"source": SIMPLE, "action": "publish"}),
        (url("publish", template, draft), {}),
        (url("copy", template), {"owner": world.a.plant.pk, "key": "copied"}),
        (url("validate"), {"source": SIMPLE}),
    ]
    for target, data in posts:
        assert client.post(target, data).status_code == 403, target
    assert stored() == before
    draft.refresh_from_db()
    assert draft.status == TemplateStatus.DRAFT

    # with the token from the page (as a browser sends it) the same writes work
    page = text(client.get(url("detail", template)))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(url("publish", template, draft), {"csrfmiddlewaretoken": token}).status_code == 302
    # htmx sends the token in a header: the live check works that way
    response = client.post(url("validate"), {"source": SIMPLE}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and "校验通过" in page_text(response)


# --- pages render ------------------------------------------------------------------------------------


def test_template_pages_render_in_chinese(world: World):
    template = own_template(world.a.plant, FULL)
    version = template.versions.get()
    client = client_for(world.a.officer)
    for name, target, expected in (
        ("list", (), "流程模板"), ("import", (), "导入模板"), ("detail", (template,), "流程预览"),
        ("edit", (template,), "校验与预览"), ("copy", (template,), "复制模板"),
        ("version", (template, version), "模板内容（YAML）"),
    ):
        response = client.get(url(name, *target))
        assert response.status_code == 200, name
        assert expected in page_text(response), name


def test_the_preview_reads_as_chinese_sentences(world: World):
    template = own_template(world.a.plant, FULL)
    body = page_text(client_for(world.a.officer).get(url("detail", template)))
    for part in (
        "自开始起 72小时", "累计最多延期 1小时30分钟", "作业区域未被冻结", "天气允许（仅对室外区域检查）",
        "「动火人」中的人员须具备「焊接与热切割作业」作业资格",
        "同一区域正在进行「受限空间作业」时，须区域负责人确认方可同时作业", "同一区域正在进行「盲板抽堵作业」时禁止同时作业",
        "须重新完成 「气体分析」",
        "申请人", "角色「气体分析人」（厂/队级及以上授权）", "「作业负责人」中指定的人员", "审批 · 会签", "复核 · 或签",
        "会签：以上每一方都须签署", "或签：任一方签署即可", "可退回至「作业申请」",
        "结果 30分钟 内有效：须在此期间完成「开始作业」", "每 2小时 办理一次，直至「完工」完成",
        "「完工」完成后至少 30分钟、至多 4小时 内办理", "可办理后 24小时 内完成",
        "审批人须在现场拍照，证明本人在场", "抄送", "安全员",
        "人员（多人）", "单选", "检查清单", "清除易燃物", "配备灭火器", "仅当「动火方式」为「其他」时填写",
        "范围 0 – 0.5%LEL", "人员状态", "1–5 张", "防护用品", "选拍，最多 9 张",
    ):
        assert part in body, part


# --- preview.describe --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(shipped_templates()))
def test_describe_covers_every_step_of_every_shipped_template(key):
    tpl = load_shipped(key)
    steps = preview.describe(tpl)
    assert [s["key"] for s in steps] == [s.key for s in tpl.steps]
    assert [s["number"] for s in steps] == list(range(1, len(tpl.steps) + 1))
    for described, step in zip(steps, tpl.steps, strict=True):
        assert described["name"] == step.name and described["kind"] == step.kind
        assert described["actors"], step.key
        assert [f["key"] for f in described["fields"]] == [f.key for f in step.fields]
        assert [p["key"] for p in described["photos"]] == [p.key for p in step.photos]
    full = preview.overview(tpl)
    assert json.loads(json.dumps(full, ensure_ascii=False)) == full  # plain data, ready for the API
    assert full["steps"] == steps


@pytest.mark.parametrize("key", list(shipped_templates()))
def test_every_shipped_template_page_shows_every_step(world: World, key):
    template = shipped(key)
    response = client_for(world.a.officer).get(url("detail", template))
    assert response.status_code == 200
    body = markup(response)
    for step in load_shipped(key).steps:
        assert f'id="step-{step.key}"' in body and step.name in body


def test_describe_gives_structured_rules():
    ov = preview.overview(load_template(FULL))
    assert (ov["validity"], ov["max_extension"]) == (72 * 60, 90)
    assert ov["guards"] == [{"name": "area_not_frozen"}, {"name": "weather_allows", "outdoor_only": True},
                            {"name": "qualified", "applicant": False, "who": {"key": "operators", "label": "动火人"},
                             "work_type": "焊接与热切割作业"}]
    assert ov["conflicts"] == [{"with": "confined-space", "policy": "endorse"}, {"with": "blind-plate", "policy": "refuse"}]
    assert ov["resume_requires"] == [{"key": "gas", "name": "气体分析"}]
    steps = {s["key"]: s for s in ov["steps"]}
    assert steps["apply"]["actors"] == [{"kind": "applicant"}] and steps["apply"]["in_sequence"]
    method_other = steps["apply"]["fields"][3]
    assert method_other["show_if"] == {"field": {"key": "method", "label": "动火方式"}, "values": ["其他"]}
    assert steps["apply"]["fields"][4]["items"] == [{"key": "m1", "label": "清除易燃物"},
                                                    {"key": "配备灭火器", "label": "配备灭火器"}]
    assert steps["apply"]["photos"][0] == {"key": "crew", "label": "人员状态", "hint": "防护用品", "min": 1, "max": 5}
    assert steps["gas"]["actors"] == [{"kind": "role", "role": "analyst", "scope": "plant"}]
    assert steps["gas"]["valid_for"] == {"minutes": 30, "through": {"key": "start", "name": "开始作业"}}
    lel = steps["gas"]["fields"][0]
    assert (lel["type"], lel["min"], lel["max"], lel["unit"], lel["required"]) == ("number", 0, 0.5, "%LEL", True)
    sign = steps["sign"]
    assert (sign["kind"], sign["mode"], sign["presence"], sign["cc"]) == ("approval", "all", True, ["safety_officer"])
    assert sign["actors"] == [{"kind": "role", "role": "approver_plant", "scope": None},
                              {"kind": "person", "field": {"key": "leader", "label": "作业负责人"}}]
    assert sign["return_to"] == [{"key": "apply", "name": "作业申请"}]
    assert steps["patrol"]["repeat"] == {"every": 120, "until": {"key": "finish", "name": "完工"}}
    assert steps["recheck"]["window"] == {"step": {"key": "finish", "name": "完工"}, "at_least": 30, "at_most": 240}
    assert steps["recheck"]["in_sequence"] and steps["recheck"]["after"] == [{"key": "finish", "name": "完工"}]
    assert steps["review"]["in_sequence"] is False and steps["review"]["after"] == [{"key": "finish", "name": "完工"}]
    assert (steps["review"]["mode"], steps["review"]["deadline"], steps["review"]["return_to"]) == ("any", 1440, None)


def test_preview_module_has_no_django():
    source = Path(preview.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+django", source, re.M)
