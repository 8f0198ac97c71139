"""Signed checkpoints: a company's job chains sealed at one moment, each checkpoint chained to the last.

A checkpoint commits to every job's chain head (instance id, last seq, last hash) through a Merkle
root, so that a later deletion of a job's last events — invisible inside the job's own chain once
its cached head is rewritten — no longer matches what was sealed. Only the leaves that changed since
the previous checkpoint are stored (`Leaf`): a checkpoint's full set is the latest leaf of each job
up to it, which keeps daily seals small however many old jobs a company has.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Checkpoint(models.Model):
    company = models.ForeignKey("orgs.OrgUnit", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField(_("序号"))  # 1, 2, … per company
    sealed_at = models.DateTimeField(_("封签时间"))
    prev_digest = models.CharField(max_length=64)  # digest() of the previous checkpoint, or 64 zeros
    merkle_root = models.CharField(max_length=64)
    head = models.CharField(max_length=64)  # sha256(prev_digest + merkle_root): see seal.checkpoints
    instances = models.PositiveIntegerField(_("作业数"))
    events = models.PositiveIntegerField(_("记录数"))
    key_id = models.CharField(max_length=64)  # sha256 of the raw Ed25519 public key
    signature = models.CharField(max_length=100)  # base64 Ed25519 over the canonical JSON (checkpoints.document)
    tsa_token = models.TextField(blank=True)  # base64 RFC 3161 TimeStampResp, when a TSA is configured
    tsa_error = models.CharField(max_length=200, blank=True)
    sealed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    scope_path_lookup = "company__path"

    class Meta:
        verbose_name = _("封签")
        verbose_name_plural = _("封签")
        ordering = ["company", "-number"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="checkpoint_unique_number")]

    def __str__(self) -> str:
        return f"{self.company_id}#{self.number}"


class Leaf(models.Model):
    """A job's chain head as sealed by a checkpoint, stored only when it changed since the last one."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="leaves")
    instance_id = models.BigIntegerField()  # not a foreign key: the seal outlives what it seals
    seq = models.PositiveIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["checkpoint", "instance_id"], name="leaf_unique")]
        indexes = [models.Index(fields=["instance_id", "checkpoint"], name="leaf_by_instance")]
