"""Load the shipped certificate kinds and work requirements (shipped.yaml) into the tables."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.db import transaction

from anlian.workforce.models import CertificateKind, WorkRequirement

SOURCE = Path(__file__).with_name("shipped.yaml")


@transaction.atomic
def sync_shipped() -> int:
    """Create or update the shipped rows (owner empty); company rows are never touched."""
    data = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    kinds = {}
    for item in data["certificate_kinds"]:
        fields = {"name": item["name"], "family": item["family"],
                  "validity_years": item.get("validity_years"), "review_years": item.get("review_years"),
                  "number_format": item.get("number_format", "")}
        kind = CertificateKind.objects.filter(owner=None, code=item["code"]).first()
        if kind is None:
            kind = CertificateKind.objects.create(owner=None, code=item["code"], **fields)
        else:
            CertificateKind.objects.filter(pk=kind.pk).update(**fields)
        kinds[item["code"]] = kind
    for item in data["work_requirements"]:
        fields = {"training_topic": item.get("training_topic", ""),
                  "training_within_days": item.get("training_within_days"),
                  "no_open_violations": bool(item.get("no_open_violations", False))}
        need = WorkRequirement.objects.filter(owner=None, work_type=item["work_type"]).first()
        if need is None:
            need = WorkRequirement.objects.create(owner=None, work_type=item["work_type"], **fields)
        else:
            WorkRequirement.objects.filter(pk=need.pk).update(**fields)
        need.certificate_kinds.set([kinds[code] for code in item.get("certificates", [])])
    return len(kinds)
