"""Which models are audited, which of their fields, where each object belongs, and how values
are written down (plain JSON, related objects by name, secrets masked).

Audited: configuration and administration objects (organisation, people, roles and grants,
templates, dispatch and deadline rules, notification settings, qualification and training
requirements, login accounts). Not audited: what work produces (jobs, events, hazards,
deliveries), which has its own hash-chained record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models.fields.files import FieldFile
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# A secret is never written to the log: a set one shows as MASK, a changed one as CHANGED.
MASK = "••••••"
CHANGED = "•••••• (changed)"

# Field names and JSON keys made of these words hold secrets (webhook: a robot's address carries
# its access token). "key" alone is a code (a template's key), not a secret, so only *_key counts.
SECRET_WORDS = {"secret", "token", "password", "passwd", "sign", "signature", "webhook"}
SECRET_PARTS = ("access_key", "api_key", "private_key", "secret_key", "sign_key")


@lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    lowered = str(name).lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    return bool(words & SECRET_WORDS) or any(part in lowered for part in SECRET_PARTS) or lowered.endswith("_key")


@dataclass(frozen=True)
class Audited:
    label: str  # "orgs.person"
    unit_path: str | None  # attribute path to the org unit the object belongs to ("org_unit"), None: special
    exclude: frozenset[str] = frozenset()
    m2m: tuple[str, ...] = ()


# (model label, attribute path to its OrgUnit, excluded fields, many-to-many fields)
SPECS: tuple[tuple[str, str | None, tuple[str, ...], tuple[str, ...]], ...] = (
    ("orgs.orgunit", None, (), ()),
    ("orgs.area", "org_unit", (), ()),
    ("orgs.person", "org_unit", (), ()),
    ("orgs.role", "owner", (), ()),
    ("orgs.rolegrant", "org_unit", (), ()),
    ("orgs.contractor", "org_unit", (), ()),
    ("flows.flowtemplate", "owner", (), ()),
    ("flows.templateversion", "template.owner", (), ()),
    ("hazards.dispatchrule", "owner", (), ()),
    ("hazards.deadlinepolicy", "owner", (), ()),
    ("notify.channel", "company", (), ()),
    ("notify.route", "company", (), ("people", "channels")),
    ("notify.messagetemplate", "company", (), ()),
    ("notify.escalationpolicy", "company", (), ()),
    ("notify.preference", "person.org_unit", (), ()),
    ("workforce.certificatekind", "owner", (), ()),
    ("workforce.workrequirement", "owner", (), ("certificate_kinds",)),
    ("training.trainingpolicy", "company", (), ()),
    ("training.course", "org_unit", (), ()),
    # Logging in writes last_login: not a change anybody made to the account.
    ("accounts.user", None, ("last_login", "date_joined"), ()),
)

REGISTRY: dict[type[models.Model], Audited] = {}

# Names for models and fields that their apps left without one (Django would show "template version").
MODEL_LABELS = {"flows.templateversion": _("模板版本")}
FIELD_LABELS = {
    "owner": _("所属组织"), "template": _("模板"), "number": _("版本号"), "source": _("模板内容"),
    "status": _("状态"), "created_by": _("创建人"), "published_at": _("发布时间"), "company": _("所属公司"),
    "person": _("人员"), "user": _("登录账号"), "key": _("代码"), "kind": _("类型"), "is_shipped": _("内置"),
}


def model_label(label: str) -> str:
    if label in MODEL_LABELS:
        return str(MODEL_LABELS[label])
    model = model_for(label)
    return str(model._meta.verbose_name) if model is not None else label


def field_label(f: Any, name: str) -> str:
    """A field's verbose_name, unless Django made it up from the name ("created by")."""
    verbose = str(getattr(f, "verbose_name", "") or "")
    if verbose and verbose != name.replace("_", " "):
        return verbose
    return str(FIELD_LABELS.get(name, verbose or name))


def baseline(instance: models.Model) -> dict[str, Any]:
    """What a new object should be compared with: a template's new version with the version
    before it, so the log shows what the new version changed rather than the whole text."""
    from anlian.flows.models import TemplateVersion

    if isinstance(instance, TemplateVersion):
        previous = (TemplateVersion.objects.filter(template_id=instance.template_id, number__lt=instance.number)
                    .order_by("-number").values_list("source", flat=True).first())
        return {"source": previous} if previous is not None else {}
    return {}


def load() -> dict[type[models.Model], Audited]:
    """Resolve SPECS against the installed apps (a model that does not exist is skipped)."""
    REGISTRY.clear()
    _FIELDS.clear()
    for label, unit_path, exclude, m2m in SPECS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        REGISTRY[model] = Audited(label, unit_path, frozenset(exclude), m2m)
    return REGISTRY


def spec_for(model: type[models.Model]) -> Audited | None:
    return REGISTRY.get(model)


def model_for(label: str) -> type[models.Model] | None:
    for model, spec in REGISTRY.items():
        if spec.label == label:
            return model
    return None


def kinds() -> list[tuple[str, str]]:
    """(label, human name) of every audited model, for the filter."""
    return sorted(((spec.label, model_label(spec.label)) for spec in REGISTRY.values()), key=lambda pair: pair[0])


_FIELDS: dict[type[models.Model], list[models.Field]] = {}


def tracked_fields(model: type[models.Model]) -> list[models.Field]:
    """Fields people edit: not the key, not timestamps the database keeps, not derived values
    (editable=False: paths, depths, denormalised companies)."""
    fields = _FIELDS.get(model)
    if fields is None:
        spec = REGISTRY[model]
        fields = _FIELDS[model] = [
            f for f in model._meta.concrete_fields
            if not f.primary_key and f.editable and f.name not in spec.exclude
            and not getattr(f, "auto_now", False) and not getattr(f, "auto_now_add", False)]
    return fields


# --- where an object belongs ----------------------------------------------------------------------


def _follow(obj: Any, path: str) -> Any:
    for name in path.split("."):
        if obj is None:
            return None
        try:
            obj = getattr(obj, name)
        except ObjectDoesNotExist:
            return None
    return obj


def scope_of(instance: models.Model, created: bool = False) -> tuple[int | None, str]:
    """(company id, org path) of the object: its company's entries, visible to that company's
    managers. Objects of no company (shipped templates, built-in roles, the group) have none."""
    from anlian.orgs.models import OrgKind, OrgUnit, Person

    spec = REGISTRY[type(instance)]
    if isinstance(instance, OrgUnit):
        unit = instance
        path = unit.path
        if not path:  # just created: services set the path right after the INSERT
            parent = _follow(unit, "parent")
            path = f"{parent.path if parent is not None else '/'}{unit.pk}/"
    else:
        if spec.unit_path is None:  # a login account belongs where its person works
            if created:  # nobody links a brand-new account yet: the person's own entry shows the link
                return None, ""
            row = Person.objects.filter(user_id=instance.pk).values_list(
                "org_unit_id", "org_unit__company_id", "org_unit__path", "org_unit__kind").first()
            if row is None:
                return None, ""
            unit_id, company_id, path, kind = row
            return (unit_id if kind == OrgKind.COMPANY else company_id), path
        else:
            unit = _follow(instance, spec.unit_path)
        if unit is None:
            return None, ""
        path = unit.path
    company = unit.pk if unit.kind == OrgKind.COMPANY else unit.company_id
    return company, path


def describe(instance: models.Model) -> str:
    """The object as people know it; models without a name of their own get "派发规则 #3"."""
    text = str(instance)
    if text.startswith(f"{type(instance).__name__} object ("):
        for name in ("name", "title", "event", "work_type", "code"):
            value = getattr(instance, name, None)
            if value:
                text = f"{instance._meta.verbose_name} {value}"
                break
        else:
            person = getattr(instance, "person", None) if hasattr(instance, "person_id") else None
            owner = person or (getattr(instance, "company", None) if hasattr(instance, "company_id") else None)
            text = f"{instance._meta.verbose_name} #{instance.pk}" + (f" · {owner}" if owner else "")
    return text[:200]


# How to open an object of a model that has no get_absolute_url: URL name and its keyword.
URLS: dict[str, tuple[str, str]] = {
    "hazards.dispatchrule": ("hazards:rule_edit", "rule_id"),
    "flows.flowtemplate": ("flows:detail", "template_id"),
    "notify.channel": ("notify:channel_edit", "channel_id"),
    "notify.route": ("notify_routing:route_edit", "route_id"),
    "orgs.role": ("orgs:role_edit", "role_id"),
    "orgs.contractor": ("workforce:contractor", "contractor_id"),
}


def object_url(label: str, object_id: str) -> str | None:
    """A link to the object's page, when it has one (checked at display time, not stored)."""
    if not object_id.isdigit():
        return None
    if label in URLS:
        name, kwarg = URLS[label]
        try:
            return reverse(name, kwargs={kwarg: int(object_id)})
        except NoReverseMatch:
            return None
    model = model_for(label)
    if model is None or not hasattr(model, "get_absolute_url"):
        return None
    try:
        return model(pk=int(object_id)).get_absolute_url()
    except (NoReverseMatch, ObjectDoesNotExist, AttributeError, TypeError, ValueError):
        return None


# --- values ---------------------------------------------------------------------------------------


def normalise(field: models.Field, value: Any) -> Any:
    """A stored or assigned value in one comparable form (a form may assign "3" to an integer)."""
    if isinstance(value, FieldFile):
        return value.name or ""
    if value is None or isinstance(field, (models.JSONField, models.ForeignKey)):
        return value
    try:
        return field.to_python(value)
    except Exception:  # noqa: BLE001 - a value the field cannot read is compared as it is
        return value


def plain(value: Any) -> Any:
    """A value as JSON (dates as ISO text, decimals as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return str(value)


def mask_pair(old: Any, new: Any, secret: bool = False) -> tuple[Any, Any]:
    """Old and new with secrets replaced: MASK when set, CHANGED when it differs from before."""
    if secret:
        was_set = old not in (None, "")
        return (MASK if was_set else old,
                (CHANGED if was_set and old != new else MASK) if new not in (None, "") else new)
    if isinstance(old, dict) or isinstance(new, dict):
        old_d = old if isinstance(old, dict) else {}
        new_d = new if isinstance(new, dict) else {}
        masked_old: dict[str, Any] = {}
        masked_new: dict[str, Any] = {}
        for key in list(old_d) + [k for k in new_d if k not in old_d]:
            o, n = mask_pair(old_d.get(key), new_d.get(key), is_secret_name(key))
            if key in old_d:
                masked_old[key] = o
            if key in new_d:
                masked_new[key] = n
        return (masked_old if isinstance(old, dict) else old), (masked_new if isinstance(new, dict) else new)
    if isinstance(old, list) or isinstance(new, list):
        old_l = old if isinstance(old, list) else []
        new_l = new if isinstance(new, list) else []
        pairs = [mask_pair(old_l[i] if i < len(old_l) else None, new_l[i] if i < len(new_l) else None)
                 for i in range(max(len(old_l), len(new_l)))]
        return ([p[0] for p in pairs[:len(old_l)]] if isinstance(old, list) else old,
                [p[1] for p in pairs[:len(new_l)]] if isinstance(new, list) else new)
    return old, new


def related_name(field: models.ForeignKey, pk: Any) -> str | None:
    if pk is None:
        return None
    obj = field.related_model._base_manager.filter(pk=pk).first()
    return describe(obj) if obj is not None else f"#{pk}"
