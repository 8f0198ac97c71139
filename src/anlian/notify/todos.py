"""我的待办: one list of everything waiting for a person, from every part of the system.

Sources, each read with a fixed number of queries whatever the number of items:
- steps and approvals of permits and hazards the person may do now (`flows.my_tasks`);
- hazards dispatched to the person (the dispatch step's `responsible`) whose respond, on-site or
  rectify clock is overdue or runs out within a day and is not already listed as a step;
- the person's certificates expired (and not yet replaced), expiring or due for review within
  30 days, their open violations to rectify, and the training they still owe;
- unread in-app notices, as one row with their count.

Overdue items come first, then by deadline, items without one last. Reminders before deadlines
are sent by each part's own timers; this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anlian.core import clock
from anlian.core.models import Notice
from anlian.flows import services as flows
from anlian.flows.models import Event
from anlian.hazards import services as hazards
from anlian.hazards.models import Hazard
from anlian.training.models import Assignment
from anlian.workforce import certificates
from anlian.workforce.models import Certificate, Violation, ViolationStatus

# How early a deadline turns the badge orange ("due soon"), by kind.
SOON = {"step": timedelta(days=1), "hazard": timedelta(days=1), "violation": timedelta(days=3),
        "certificate": timedelta(days=certificates.EXPIRING_DAYS), "training": timedelta(days=30)}
# Hazard clocks: (deadline field, field set when the stage is reached, what to do).
CLOCKS = (("respond_due", "received_at", gettext_lazy("接收")), ("on_site_due", "on_site_at", gettext_lazy("到场")),
          ("rectify_due", "rectified_at", gettext_lazy("整改")))
MAX_ROWS = 200  # per source: a list longer than this is not read on a phone anyway


@dataclass(frozen=True)
class Todo:
    kind: str  # step | hazard | certificate | violation | training | notices
    kind_label: str
    title: str
    action: str  # what to do, in a few words
    url: str  # opens the item in the phone layout
    desktop_url: str  # the same item on the desktop
    since: datetime | None = None
    due: datetime | None = None  # the moment it is late
    due_day: date | None = None  # set for date deadlines (shown as a day; `due` is the next midnight)
    overdue: bool = False
    soon: bool = False
    count: int = 0  # notices: how many unread

    @property
    def colour(self) -> str:
        return "red" if self.overdue else "orange" if self.soon else ""


def todos(user: Any, now: datetime | None = None) -> list[Todo]:
    """Everything waiting for this user's person, overdue first, then by deadline."""
    person = getattr(user, "person", None)
    if person is None:
        return []
    now = now or clock.now()
    steps = _steps(user, now)
    items = [*steps, *_hazards(user, person, now, {t.url for t in steps}), *_certificates(person, now),
             *_violations(person, now), *_training(person, now), *_notices(person)]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(items, key=lambda t: (not t.overdue, t.due is None, t.due or far, t.kind != "notices",
                                        -(t.since or now).timestamp()))


def _timed(kind: str, due: datetime | None, now: datetime) -> dict[str, Any]:
    return {"due": due, "overdue": due is not None and now >= due,
            "soon": due is not None and now < due <= now + SOON[kind]}


def _dated(kind: str, day: date | None, now: datetime) -> dict[str, Any]:
    """A date deadline is late from the next local midnight on (a certificate valid until the 5th
    is valid all that day)."""
    if day is None:
        return _timed(kind, None, now)
    lapses = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    return {**_timed(kind, lapses, now), "due_day": day}


# --- steps of permits and hazards ------------------------------------------------------------------------


def _steps(user: Any, now: datetime) -> list[Todo]:
    jobs = flows.my_tasks(user, now)
    hazard_of = {h.instance_id: h for h in Hazard.objects.filter(
        instance_id__in=[job.pk for job, _d in jobs if job.version.template.kind == "hazard"])}
    out, seen = [], set()
    for job, decisions in jobs:
        tpl = flows.template_of(job.version)
        hazard = hazard_of.get(job.pk)
        since = job.ordered_events[-1].server_time if job.ordered_events else job.started_at
        for decision in decisions:
            step = tpl.by_key.get(decision.step) if decision.step else None
            if step is None or (job.pk, step.key) in seen:
                continue  # approve/return/reject of one step are one task; job-level actions are not tasks
            seen.add((job.pk, step.key))
            verb = _("审批") if step.is_approval else _("办理")
            if hazard is not None:
                due = min([d for d in (decision.due_at, _clock_due(hazard)) if d is not None], default=None)
                out.append(Todo("hazard", _("隐患"), hazard.description, f"{verb}：{step.name}",
                                reverse("permits:step", args=[job.pk, step.key]),
                                reverse("hazards:detail", args=[hazard.pk]), since=since,
                                **_timed("hazard", due, now)))
            else:
                title = f"{job.version.template.name} {job.number}" + (f" · {job.title}" if job.title else "")
                out.append(Todo("step", _("作业票"), title, f"{verb}：{step.name}",
                                reverse("permits:step", args=[job.pk, step.key]),
                                reverse("permits:detail", args=[job.pk]), since=since,
                                **_timed("step", decision.due_at, now)))
    return out


# --- hazards dispatched to the person -----------------------------------------------------------------


def _clock_due(hazard: Hazard) -> datetime | None:
    """The earliest deadline of a clock still running."""
    return min([getattr(hazard, due) for due, reached, _w in CLOCKS
                if getattr(hazard, due) is not None and getattr(hazard, reached) is None], default=None)


def _hazards(user: Any, person: Any, now: datetime, listed: set[str]) -> list[Todo]:
    horizon = now + SOON["hazard"]
    running = Q()
    for due, reached, _w in CLOCKS:
        running |= Q(**{f"{reached}__isnull": True, f"{due}__lte": horizon})
    candidates = list(hazards.live(hazards.visible(user)).filter(running, instance__participants=person)
                      .select_related("instance").order_by("pk")[:MAX_ROWS])
    # Taking part is not enough (a verifier takes part too): the dispatch step names the
    # responsible people, and the last dispatch event holds them.
    responsible: dict[int, list[str]] = {}
    events = Event.objects.filter(instance_id__in=[h.instance_id for h in candidates], step="dispatch")
    for instance_id, payload in events.order_by("seq").values_list("instance_id", "payload"):
        responsible[instance_id] = [str(pk) for pk in (payload.get("values") or {}).get("responsible") or []]
    out = []
    for hazard in candidates:
        if str(person.pk) not in responsible.get(hazard.instance_id, []):
            continue
        step_urls = {reverse("permits:step", args=[hazard.instance_id, key]) for key in hazard.instance.current_steps}
        if step_urls & listed:
            continue  # already a step row, which carries this deadline
        due = _clock_due(hazard)
        what = next(w for d, r, w in CLOCKS if getattr(hazard, d) == due and getattr(hazard, r) is None)
        out.append(Todo("hazard", _("隐患"), hazard.description, _("{what}期限将到或已过").format(what=what),
                        reverse("hazards:m_detail", args=[hazard.pk]), reverse("hazards:detail", args=[hazard.pk]),
                        since=hazard.dispatched_at or hazard.reported_at, **_timed("hazard", due, now)))
    return out


# --- the person's own records ---------------------------------------------------------------------------


def _certificates(person: Any, now: datetime) -> list[Todo]:
    today = timezone.localtime(now).date()
    horizon = today + timedelta(days=certificates.EXPIRING_DAYS)
    # An expired certificate stays until the holder has a later one of the same kind.
    newer = Certificate.objects.filter(person=OuterRef("person"), kind=OuterRef("kind"), revoked_at=None,
                                       expires_on__gt=OuterRef("expires_on"))
    reviewed = Q(reviewed_on__isnull=False, reviewed_on__gte=F("review_due_on"))
    due = Q(expires_on__lte=horizon) | (Q(review_due_on__lte=horizon) & ~reviewed)
    rows = (Certificate.objects.filter(due, person=person, revoked_at=None).exclude(Exists(newer))
            .select_related("kind").order_by("expires_on", "pk")[:MAX_ROWS])
    out = []
    for cert in rows:
        state = certificates.state_of(cert, today)
        renew = state in ("expired", "expiring")
        url = reverse("workforce:certificate", args=[cert.pk])
        out.append(Todo("certificate", _("证书"), cert.kind.name,
                        f"{certificates.STATE_LABELS[state]}，" + (_("请办理换证") if renew else _("请参加复审")),
                        url, url, since=None,
                        **_dated("certificate", cert.expires_on if renew else cert.review_due_on, now)))
    return out


def _violations(person: Any, now: datetime) -> list[Todo]:
    rows = Violation.objects.filter(person=person, status=ViolationStatus.OPEN).order_by("rectify_due", "pk")[:MAX_ROWS]
    out = []
    for item in rows:
        url = reverse("workforce:violation", args=[item.pk])
        out.append(Todo("violation", _("违章"), item.what, _("整改违章"), url, url, since=item.occurred_at,
                        **_dated("violation", item.rectify_due, now)))
    return out


def _training(person: Any, now: datetime) -> list[Todo]:
    rows = Assignment.objects.filter(person=person, completed_on__isnull=True).order_by("due_on", "pk")[:MAX_ROWS]
    url = reverse("training:mine")
    return [Todo("training", _("培训"), item.title,
                 _("完成培训：已完成{done}/{need}学时").format(done=_hours(item.hours_done), need=_hours(item.hours_required)),
                 url, url, since=item.created_at, **_dated("training", item.due_on, now)) for item in rows]


def _hours(value: Any) -> str:
    """12.0 → "12", 7.5 → "7.5"."""
    return f"{value:f}".rstrip("0").rstrip(".") if "." in f"{value:f}" else f"{value:f}"


def _notices(person: Any) -> list[Todo]:
    unread = Notice.objects.filter(person=person, read_at__isnull=True).aggregate(n=Count("pk"), last=Max("created_at"))
    if not unread["n"]:
        return []
    url = reverse("notices")
    return [Todo("notices", _("消息"), _("{n}条未读消息").format(n=unread["n"]), _("查看消息"), url, url,
                 since=unread["last"], count=unread["n"])]

