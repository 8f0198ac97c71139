"""Desktop pages for workflow templates: list, read, import, copy, edit with live checking, publish,
export.

Views stay thin: templates come only from `_templates(user)` (shipped ones plus those the user's
grants cover; another company's template is a 404), source is checked by `forms` (every problem,
in Chinese, with its place) and every write goes through `flows.services`, whose refusals are
shown on the page with the service's status.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anlian.core.errors import DomainError, Forbidden, NotFound
from anlian.core.pages import require_somewhere
from anlian.flows import checking, forms, preview, services
from anlian.flows.checking import MAX_SOURCE_BYTES
from anlian.flows.models import FlowTemplate, TemplateStatus, TemplateVersion
from anlian.flows.templatetags.flows_tags import KINDS
from anlian.orgs import access
from anlian.orgs.permissions import MANAGE_ORG

# --- lookups -------------------------------------------------------------------------------------


def _templates(user: Any) -> QuerySet[FlowTemplate]:
    """Shipped templates and the templates of the subtrees the user may see."""
    own = access.visible(FlowTemplate, user).values("pk")
    return FlowTemplate.objects.filter(Q(owner__isnull=True) | Q(pk__in=own)).select_related("owner")


def _template(user: Any, template_id: int) -> FlowTemplate:
    template = _templates(user).filter(pk=template_id).first()
    if template is None:
        raise NotFound()
    return template


def _version(template: FlowTemplate, version_id: Any) -> TemplateVersion:
    version = template.versions.filter(pk=version_id).select_related("created_by").first() \
        if str(version_id).isdigit() else None
    if version is None:
        raise NotFound()
    return version


def can_edit(user: Any, template: FlowTemplate) -> bool:
    return template.owner is not None and not template.is_shipped and access.can(user, MANAGE_ORG, template.owner)


def can_publish(user: Any, template: FlowTemplate) -> bool:
    """Who services.publish_version lets publish: the template's managers; shipped ones, a superuser."""
    return can_edit(user, template) or (template.owner is None and access.scope_of(user).is_superuser)


def _current(template: FlowTemplate) -> TemplateVersion | None:
    """The version a reader cares about: the published one, else the newest draft."""
    return template.published() or template.versions.order_by("-number").first()


def _overview(user: Any, version: TemplateVersion | None) -> dict[str, Any] | None:
    return _labelled(user, preview.overview(services.template_of(version))) if version is not None else None


def _labelled(user: Any, ov: dict[str, Any]) -> dict[str, Any]:
    """Name the conflicting work: a template key becomes that template's name, a kind its label."""
    keys = [c["with"] for c in ov["conflicts"]]
    names = dict(_templates(user).filter(key__in=keys).order_by("-owner_id").values_list("key", "name")) if keys else {}
    for conflict in ov["conflicts"]:
        conflict["label"] = names.get(conflict["with"]) or str(KINDS.get(conflict["with"], conflict["with"]))
    return ov


def _refused(form: forms.forms.Form, exc: DomainError) -> int:
    """Put a service refusal on the form (on the field it names, line by line); return its status."""
    field = exc.field if exc.field in form.fields else None
    for line in exc.message().splitlines() or [exc.message()]:
        form.add_error(field, line)
    return exc.http_status


# --- list ----------------------------------------------------------------------------------------


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    published = TemplateVersion.objects.filter(template=OuterRef("pk"), status=TemplateStatus.PUBLISHED)
    rows = list(
        _templates(request.user)
        .annotate(n_versions=Count("versions", distinct=True),
                  published_number=Subquery(published.order_by("-number").values("number")[:1],
                                            output_field=IntegerField()),
                  published_id=Subquery(published.order_by("-number").values("pk")[:1],
                                        output_field=IntegerField()),
                  latest_id=Subquery(TemplateVersion.objects.filter(template=OuterRef("pk")).order_by("-number")
                                     .values("pk")[:1], output_field=IntegerField()))
        .order_by("owner__path", "key")
    )
    for row in rows:
        row.can_edit = can_edit(request.user, row)
        row.export_id = row.published_id or row.latest_id
    context = {"shipped": [r for r in rows if r.owner_id is None], "own": [r for r in rows if r.owner_id is not None]}
    return render(request, "flows/list.html", context)


# --- one template --------------------------------------------------------------------------------


@login_required
def template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(request.user, template_id)
    versions = list(template.versions.select_related("created_by").annotate(n_jobs=Count("instances"))
                    .order_by("-number"))
    current = _current(template)
    context = {"template": template, "versions": versions, "current": current, "ov": _overview(request.user, current),
               "can_edit": can_edit(request.user, template),
               "can_publish": can_publish(request.user, template)}
    return render(request, "flows/detail.html", context)


@login_required
def version_detail(request: HttpRequest, template_id: int, version_id: int) -> HttpResponse:
    template = _template(request.user, template_id)
    version = _version(template, version_id)
    context = {"template": template, "version": version, "ov": _overview(request.user, version),
               "can_edit": can_edit(request.user, template),
               "can_publish": can_publish(request.user, template)}
    return render(request, "flows/version.html", context)


@login_required
def version_export(request: HttpRequest, template_id: int, version_id: int) -> HttpResponse:
    """The version's YAML exactly as stored, as a file download."""
    template = _template(request.user, template_id)
    version = _version(template, version_id)
    response = HttpResponse(version.source.encode("utf-8"), content_type="application/x-yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{template.key}-v{version.number}.yaml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def version_publish(request: HttpRequest, template_id: int, version_id: int) -> HttpResponse:
    template = _template(request.user, template_id)
    version = _version(template, version_id)
    if version.status == TemplateStatus.PUBLISHED:
        messages.info(request, _("第 {n} 版已是发布版本").format(n=version.number))
        return redirect("flows:detail", template_id=template.pk)
    with transaction.atomic():
        services.publish_version(request.user, version)
    messages.success(request, _("已发布第 {n} 版，新发起的作业将使用此版本；进行中的作业仍按原版本办理").format(
        n=version.number))
    return redirect("flows:detail", template_id=template.pk)


# --- editing -------------------------------------------------------------------------------------


def _editor(request: HttpRequest, template: FlowTemplate, form: forms.EditForm, base: TemplateVersion | None,
            status: int = 200) -> HttpResponse:
    """The editor page; its check panel starts with the result for the source shown."""
    problems, parsed = form.problems, form.template
    if not form.is_bound and base is not None:
        result = checking.check(base.source)
        problems, parsed = result.problems, result.template
    context = {"template": template, "form": form, "base": base, "problems": problems,
               "ov": _labelled(request.user, preview.overview(parsed)) if parsed is not None and not problems else None,
               "max_kb": MAX_SOURCE_BYTES // 1024}
    return render(request, "flows/edit.html", context, status=status)


@login_required
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    """GET: the editor on the newest version (or ?from=<version id>). POST: save a new version
    (draft, or published with action=publish); a refusal keeps the typed source on the page."""
    template = _template(request.user, template_id)
    if template.owner is None or template.is_shipped:
        if request.method == "POST":
            raise Forbidden(_("内置模板不能直接修改，请先复制为本单位模板"))
        return render(request, "flows/readonly.html", {"template": template}, status=403)
    access.require(request.user, MANAGE_ORG, template.owner)
    base = _version(template, request.GET["from"]) if request.GET.get("from") else \
        template.versions.order_by("-number").first()
    if request.method != "POST":
        form = forms.EditForm(initial={"source": base.source if base else ""})
        return _editor(request, template, form, base)
    form = forms.EditForm(request.POST)
    if not form.is_valid():
        return _editor(request, template, form, base, status=form.status)
    publish = request.POST.get("action") == "publish"
    try:
        with transaction.atomic():
            version = services.save_version(request.user, template, form.cleaned_data["source"], publish=publish)
    except DomainError as exc:
        return _editor(request, template, form, base, status=_refused(form, exc))
    done = _("已保存并发布第 {n} 版") if publish else _("已保存为第 {n} 版（草稿），发布后新作业才会使用")
    messages.success(request, done.format(n=version.number))
    return redirect("flows:detail", template_id=template.pk)


@login_required
def template_import(request: HttpRequest) -> HttpResponse:
    """Upload a .yaml file or paste YAML: a new template (or a new version of the owner's template
    with the same key), stored as a draft unless 'publish' is ticked."""
    require_somewhere(request.user, MANAGE_ORG)
    form = forms.ImportForm(request.POST or None, request.FILES or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    version = services.save_version(request.user, None, data["text"], owner=data["owner"],
                                                    publish=data["publish"])
            except DomainError as exc:
                status = _refused(form, exc)
            else:
                messages.success(request, _("已导入“{name}”第 {n} 版{state}").format(
                    name=version.template.name, n=version.number,
                    state=_("并发布") if data["publish"] else _("（草稿）")))
                return redirect("flows:detail", template_id=version.template_id)
        else:
            status = form.status
    context = {"form": form, "problems": form.problems, "max_kb": MAX_SOURCE_BYTES // 1024}
    return render(request, "flows/import.html", context, status=status)


@login_required
def template_copy(request: HttpRequest, template_id: int) -> HttpResponse:
    """Copy a template's current version into a company's own, editable template under a new key."""
    template = _template(request.user, template_id)
    require_somewhere(request.user, MANAGE_ORG)
    initial = {"key": f"{template.key}-copy"[:60]}
    form = forms.CopyForm(request.POST or None, user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                with transaction.atomic():
                    version = services.copy_template(request.user, template, form.cleaned_data["owner"],
                                                     form.cleaned_data["key"])
            except DomainError as exc:
                status = _refused(form, exc)
            else:
                messages.success(request, _("已复制为“{owner}”的模板 {key}（草稿），可以修改后发布").format(
                    owner=version.template.owner.name, key=version.template.key))
                return redirect("flows:detail", template_id=version.template_id)
    return render(request, "flows/copy.html", {"template": template, "form": form}, status=status)


# --- live checking -------------------------------------------------------------------------------


@login_required
@require_POST
def validate(request: HttpRequest) -> HttpResponse:
    """The editor's live check (htmx): every problem in Chinese, or 校验通过 and the preview.

    Always 200 so htmx swaps the answer in; the result is in the fragment (data-ok)."""
    form = forms.EditForm(request.POST)
    ov = None
    if form.is_valid():
        ov = _labelled(request.user, preview.overview(form.template))
        expected = request.POST.get("expect_key", "")
        if expected and form.template.key != expected:
            form.problems = (forms.Problem("", _("模板代码不能修改（应为 {key}）").format(key=expected)),)
            ov = None
    elif not form.problems:
        form.problems = tuple(forms.Problem("", str(e)) for e in form.errors.get("source", []))
    return render(request, "flows/_check.html", {"problems": form.problems, "ov": ov})
