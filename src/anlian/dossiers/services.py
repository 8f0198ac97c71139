"""Dossiers of a permit or hazard, their PDF exports, share links and regulator accounts.

Everything a dossier shows is read from the job's events (the hash chain) and the evidence files
they name; nothing here writes to a job. Photos are always the watermarked display copies made by
the evidence pipeline, never the raw originals.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.errors import Conflict, Forbidden, Invalid, NotFound
from anlian.dossiers.models import DossierExport, ExportStatus, RegulatorAccount, ShareLink
from anlian.evidence.models import StoredFile
from anlian.flows.models import Instance
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit, Role, RoleGrant
from anlian.orgs.permissions import MANAGE_ORG

log = logging.getLogger(__name__)

SHARE_SALT = "anlian.dossiers.share"
VERIFY_SALT = "anlian.dossiers.verify"
MIN_DAYS, MAX_DAYS = 1, 30
# An export not finished within this time is taken for lost (worker restarted): a new request makes a new one.
STALE_AFTER = timedelta(minutes=30)
REGULATOR_ROLE = "regulator"


# --- tokens ---------------------------------------------------------------------------------------


def share_token(link: ShareLink) -> str:
    return signing.dumps({"s": link.pk}, salt=SHARE_SALT)


def verify_token(instance: Instance) -> str:
    """The per-job verification token printed in the dossier's QR code (it shows integrity only)."""
    return signing.dumps({"v": instance.pk}, salt=VERIFY_SALT)


def verify_url(instance: Instance) -> str:
    return settings.SITE_URL + reverse("dossiers:verify", args=[verify_token(instance)])


def share_url(link: ShareLink) -> str:
    return settings.SITE_URL + reverse("dossiers:shared", args=[share_token(link)])


class LinkRefused(Exception):
    """A share or verify token that opens nothing: 404 (unknown, forged) or 410 (expired, revoked)."""

    def __init__(self, status: int, reason: str, why: str):
        super().__init__(why)
        self.status, self.reason, self.why = status, reason, why


def _refuse(status: int, reason: str, why: str, token: str) -> LinkRefused:
    log.warning("dossier link refused: %s (token %s…)", why, token[:16])
    return LinkRefused(status, reason, why)


def open_share(token: str, *, count: bool = True) -> ShareLink:
    """The live share link a token names (counted as opened); LinkRefused otherwise (logged)."""
    if not token or len(token) > 200:
        raise _refuse(404, _("链接无效"), "malformed", token or "")
    try:
        # The row's expiry is what counts; the signature's age bounds a token whose row was tampered with.
        data = signing.loads(token, salt=SHARE_SALT, max_age=timedelta(days=MAX_DAYS + 1))
    except signing.SignatureExpired:
        raise _refuse(410, _("链接已过期"), "signature expired", token) from None
    except signing.BadSignature:
        raise _refuse(404, _("链接无效"), "bad signature", token) from None
    pk = data.get("s") if isinstance(data, dict) else None
    link = ShareLink.objects.select_related("instance").filter(pk=pk).first() if isinstance(pk, int) else None
    if link is None:
        raise _refuse(404, _("链接无效"), "unknown link", token)
    now = clock.now()
    if link.revoked_at is not None:
        raise _refuse(410, _("链接已被撤销"), f"revoked link {link.pk}", token)
    if now >= link.expires_at:
        raise _refuse(410, _("链接已过期"), f"expired link {link.pk}", token)
    if count:
        ShareLink.objects.filter(pk=link.pk).update(opened=F("opened") + 1, last_opened_at=now)
    return link


def instance_for_token(token: str) -> tuple[Instance, ShareLink | None]:
    """The job a verify page token names: a per-job verify token, or a live share link's token."""
    if not token or len(token) > 200:
        raise _refuse(404, _("链接无效"), "malformed", token or "")
    try:
        data = signing.loads(token, salt=VERIFY_SALT)
    except signing.BadSignature:
        link = open_share(token)
        return link.instance, link
    pk = data.get("v") if isinstance(data, dict) else None
    instance = Instance.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    if instance is None:
        raise _refuse(404, _("链接无效"), "unknown job", token)
    return instance, None


# --- integrity (the seal app's verification) --------------------------------------------------------

VERIFY_PER_MINUTE = 30  # public verifications per address: each one re-hashes the job's events and files


def integrity(instance: Instance, *, files: bool = True) -> Any:
    """The seal app's verification report of one job (ok, counts, breaks, latest checkpoint)."""
    from anlian.seal.verify import verify_instance

    return verify_instance(instance, files=files)


def verify_allowed(address: str) -> bool:
    """False once an address has asked for more public verifications this minute than a person
    scanning QR codes could: the page recomputes hashes, so it must not become a way to load the
    server. Counted in the cache (shared by the processes when Redis is configured)."""
    key = f"dossiers:verify:{address}:{int(clock.now().timestamp() // 60)}"
    if cache.add(key, 1, timeout=120):
        return True
    try:
        return cache.incr(key) <= VERIFY_PER_MINUTE
    except ValueError:  # the count expired between add and incr: a new minute's first request
        cache.set(key, 1, timeout=120)
        return True


# --- the dossier's content -------------------------------------------------------------------------------


@dataclass
class FileRow:
    sha256: str
    kind: str
    label: str
    size: int
    seq: int


@dataclass
class Dossier:
    instance: Instance
    hazard: Any
    kind_label: str
    facts: list[tuple[str, str]]
    entries: list[Any]
    files: list[FileRow]
    flags: list[tuple[int, str, str]]  # (event seq, step name, text)
    report: Any
    verify_url: str
    photos: int = 0


def local(moment: datetime | None) -> str:
    from django.utils import timezone

    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def collect(instance: Instance, *, files: bool = True) -> Dossier:
    """Everything a dossier shows, from the events and the evidence files they name."""
    from anlian.permits.services import timeline

    instance = Instance.objects.select_related("version__template", "area", "applicant", "org_unit",
                                               "company").get(pk=instance.pk)
    hazard = getattr(instance, "hazard", None) if instance.version.template.kind == "hazard" else None
    entries = timeline(instance)
    signatures = {v["signature"]: e.seq for e in entries for v in e.values if v.get("signature")}
    refs = {r: (e.seq, p["label"]) for e in entries for p in e.photos for r in p["refs"]}
    stored = {f.sha256: f for f in StoredFile.objects.filter(company_id=instance.company_id,
                                                             sha256__in=set(refs) | set(signatures))}
    rows = []
    for sha, (seq, label) in refs.items():
        f = stored.get(sha)
        rows.append(FileRow(sha, _("视频") if f is not None and f.is_video else _("照片"), label,
                            f.size if f else 0, seq))
    for sha, seq in signatures.items():
        f = stored.get(sha)
        rows.append(FileRow(sha, _("签名"), _("手写签名"), f.size if f else 0, seq))
    rows.sort(key=lambda r: (r.seq, r.kind, r.sha256))
    flags = [(e.seq, e.step_name or e.label, text) for e in entries for text in e.flags]
    kind_label = _("隐患档案") if hazard is not None else _("作业票档案")
    facts = [
        (_("公司"), instance.company.name), (_("编号"), instance.number),
        (_("类型"), instance.version.template.name), (_("区域"), instance.area.name),
        (_("所属组织"), instance.org_unit.name), (_("申请人") if hazard is None else _("发现人"), instance.applicant.name),
    ]
    if instance.title:
        facts.append((_("内容"), instance.title))
    if hazard is not None:
        facts += [(_("隐患类别"), hazard.get_category_display()), (_("隐患等级"), hazard.get_level_display()),
                  (_("隐患描述"), hazard.description), (_("隐患状态"), hazard.get_stage_display()),
                  (_("整改期限"), local(hazard.rectify_due))]
    facts += [(_("开始时间"), local(instance.started_at)), (_("有效期至"), local(instance.expires_at)),
              (_("关闭时间"), local(instance.closed_at)), (_("状态"), instance.get_status_display())]
    return Dossier(instance, hazard, kind_label, facts, entries, rows, flags, integrity(instance, files=files),
                   verify_url(instance), photos=sum(1 for r in rows if r.kind == _("照片")))


def photo_items(entries: list[Any]) -> list[tuple[int, str, str]]:
    """(event id, sha256, slot label) of every still photo of the timeline, in order."""
    return [(e.event_id, r, p["label"]) for e in entries if e.event_id for p in e.photos
            for r in p["refs"] if r not in p.get("videos", ())]


def display_copy(instance: Instance, event_id: int, sha256: str) -> bytes | None:
    """The watermarked display copy of a photo of this job's event (made now if missing)."""
    from anlian.evidence.services import display_for
    from anlian.flows.models import Event

    if not Event.objects.filter(pk=event_id, instance_id=instance.pk).exists():
        return None
    original = StoredFile.objects.filter(company_id=instance.company_id, sha256=sha256).first()
    if original is None:
        return None
    derived = display_for(original, event_id)
    if derived is None:
        return None
    with derived.file.open("rb") as handle:
        return handle.read()


def signature_image(instance: Instance, event_id: int, sha256: str) -> bytes | None:
    """A drawn signature (PNG) recorded in this job's event values, or None."""
    from anlian.flows.models import Event
    from anlian.permits.services import SIGNATURE_PREFIX

    event = Event.objects.filter(pk=event_id, instance_id=instance.pk).only("payload").first()
    if event is None:
        return None
    values = (event.payload or {}).get("values") or {}
    if not any(isinstance(v, str) and v.startswith(f"{SIGNATURE_PREFIX}{sha256}:") for v in values.values()):
        return None
    original = StoredFile.objects.filter(company_id=instance.company_id, sha256=sha256).first()
    if original is None or not original.content_type.startswith("image/"):
        return None
    with original.file.open("rb") as handle:
        return handle.read()


# --- PDF exports -----------------------------------------------------------------------------------------


def visible_exports(user: Any) -> QuerySet[DossierExport]:
    return DossierExport.objects.filter(instance__in=access.visible(Instance, user)).select_related("instance")


def request_export(user: Any, instance: Instance) -> tuple[DossierExport, bool]:
    """A new PDF export queued for the worker, or the one already queued or running for this job."""
    now = clock.now()
    with transaction.atomic():
        Instance.objects.select_for_update().filter(pk=instance.pk).values_list("pk").first()  # one at a time
        pending = DossierExport.objects.filter(instance=instance, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])
        stale = pending.filter(created_at__lt=now - STALE_AFTER)
        stale.update(status=ExportStatus.FAILED, error=_("生成超时，请重新生成"), finished_at=now)
        running = pending.first()
        if running is not None:
            return running, False
        export = DossierExport.objects.create(instance=instance, created_by=user if getattr(user, "pk", None) else None,
                                              created_at=now, head=instance.last_hash)
    from anlian.dossiers.tasks import build_export

    transaction.on_commit(lambda: build_export(export.pk))
    return export, True


def run_export(export_id: int) -> DossierExport | None:
    """The worker's part: render the PDF, keep it with its SHA-256, record progress as it goes."""
    from anlian.dossiers.pdf import render

    export = DossierExport.objects.select_related("instance").filter(pk=export_id).first()
    if export is None or export.status in (ExportStatus.DONE, ExportStatus.FAILED):
        return export
    DossierExport.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING)

    def progress(done: int, total: int) -> None:
        DossierExport.objects.filter(pk=export.pk).update(done=done, total=total)

    try:
        dossier = collect(export.instance)
        data, pages = render(dossier, progress=progress)
    except Exception as exc:  # noqa: BLE001 - the export says it failed; the worker goes on
        log.exception("dossier export %s failed", export.pk)
        message = exc.message() if hasattr(exc, "message") and callable(exc.message) else _("生成失败，请稍后重试")
        DossierExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=str(message)[:500],
                                                          finished_at=clock.now())
        return DossierExport.objects.get(pk=export.pk)
    export.refresh_from_db()
    export.file.save("dossier.pdf", ContentFile(data), save=False)
    export.sha256, export.size, export.pages = hashlib.sha256(data).hexdigest(), len(data), pages
    export.status, export.finished_at, export.done = ExportStatus.DONE, clock.now(), export.total
    export.head = dossier.instance.last_hash
    export.save()
    return export


def pdf_bytes(export: DossierExport) -> bytes:
    if export.status != ExportStatus.DONE or not export.file:
        raise Conflict(_("档案 PDF 尚未生成完成"), code="export_not_done")
    try:
        with export.file.open("rb") as handle:
            return handle.read()
    except OSError:
        raise NotFound() from None


def bundle_bytes(export: DossierExport) -> bytes:
    """The seal app's evidence bundle of the job, with this PDF added as dossier.pdf."""
    try:
        from anlian.seal.bundle import build_bundle
    except ImportError:
        raise Conflict(_("证据包功能尚未启用"), code="bundle_unavailable") from None
    return build_bundle(export.instance, {"dossier.pdf": pdf_bytes(export)})


# --- share links ------------------------------------------------------------------------------------------


def can_share(user: Any, instance: Instance) -> bool:
    """Sending a job outside the company is a manager's decision: MANAGE_ORG over the job's unit."""
    return access.can(user, MANAGE_ORG, instance.org_unit) and not is_read_only(user)


def create_share(user: Any, instance: Instance, days: Any) -> ShareLink:
    if not can_share(user, instance):
        raise Forbidden(_("只有该单位的管理人员可以分享作业档案"))
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise Invalid(_("有效天数须为{a}到{b}之间的整数").format(a=MIN_DAYS, b=MAX_DAYS), field="days") from None
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise Invalid(_("有效天数须为{a}到{b}之间的整数").format(a=MIN_DAYS, b=MAX_DAYS), field="days")
    now = clock.now()
    return ShareLink.objects.create(instance=instance, days=days, expires_at=now + timedelta(days=days),
                                    created_by=user, created_at=now)


def visible_links(user: Any) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(instance__in=access.visible(Instance, user)).select_related("instance",
                                                                                            "created_by")


def revoke_share(user: Any, link: ShareLink) -> ShareLink:
    if not can_share(user, link.instance):
        raise Forbidden(_("只有该单位的管理人员可以撤销分享链接"))
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = clock.now(), user
        link.save(update_fields=["revoked_at", "revoked_by"])
    return link


# --- regulator accounts --------------------------------------------------------------------------------


def is_read_only(user: Any) -> bool:
    """An account holding the regulator role: it may read what its grants show and change nothing.

    Read from the account's grants, which every request loads once anyway (access.scope_of): the
    check costs no query of its own on the write path."""
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return False
    return any(code == REGULATOR_ROLE for code, _path, _kind in access.scope_of(user).roles)


def managed_companies(user: Any) -> QuerySet[OrgUnit]:
    """Companies whose administrator may open regulator accounts on them (MANAGE_ORG at the company)."""
    return access.visible(OrgUnit, user, MANAGE_ORG).filter(kind=OrgKind.COMPANY).order_by("path")


def visible_regulators(user: Any) -> QuerySet[RegulatorAccount]:
    return RegulatorAccount.objects.filter(person__company__in=managed_companies(user)).select_related(
        "person__user", "person__company")


def regulator_companies(account: RegulatorAccount) -> list[OrgUnit]:
    return [g.org_unit for g in RoleGrant.objects.filter(person=account.person, role__code=REGULATOR_ROLE,
                                                         role__owner__isnull=True).select_related("org_unit")]


def create_regulator(actor: Any, *, name: str, agency: str, username: str, password: str,
                     companies: list[OrgUnit]) -> RegulatorAccount:
    """A read-only login with `regulator` (VIEW) grants on the chosen companies, all or nothing."""
    from anlian.orgs import services as orgs

    if is_read_only(actor):
        raise Forbidden()
    allowed = set(managed_companies(actor).values_list("pk", flat=True))
    chosen = list(dict.fromkeys(companies))
    if not chosen:
        raise Invalid(_("请至少选择一家公司"), field="companies")
    if any(c.pk not in allowed for c in chosen):
        raise NotFound(field="companies")
    agency = (agency or "").strip()
    if not agency or len(agency) > 100:
        raise Invalid(_("请填写监管单位（不超过100个字）"), field="agency")
    role = Role.objects.get(code=REGULATOR_ROLE, owner=None)
    with transaction.atomic():
        person = orgs.save_person(actor, None, org_unit=chosen[0], name=name,
                                  employee_no=f"JG-{secrets.token_hex(4).upper()}", job_title=_("监管人员"))
        # A regulator is not an employee: no three-level education is owed (the hire signal assigned it).
        from anlian.training.models import Assignment

        Assignment.objects.filter(person=person).delete()
        orgs.set_login(actor, person, username=username, password=password)
        for company in chosen:
            orgs.grant_role(actor, person, role, company)
        account = RegulatorAccount.objects.create(person=person, agency=agency, created_by=actor,
                                                  created_at=clock.now())
    return account


def revoke_regulator(actor: Any, account: RegulatorAccount) -> RegulatorAccount:
    """End the login and remove every grant; the person row stays for the record."""
    from anlian.orgs import services as orgs

    if is_read_only(actor) or not access.can(actor, MANAGE_ORG, account.person.company or account.person.org_unit):
        raise Forbidden()
    if account.revoked_at is not None:
        return account
    with transaction.atomic():
        for grant in RoleGrant.objects.filter(person=account.person).select_related("org_unit", "role"):
            orgs.revoke_grant(actor, grant)
        person = account.person
        orgs.save_person(actor, person, org_unit=person.org_unit, name=person.name, employee_no=person.employee_no,
                         phone=person.phone, is_active=False)
        account.revoked_at, account.revoked_by = clock.now(), actor
        account.save(update_fields=["revoked_at", "revoked_by"])
    return account


def get_person_account(pk: Any, user: Any) -> RegulatorAccount:
    return access.get_for_user(visible_regulators(user), user, pk)

