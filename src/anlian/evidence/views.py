"""Evidence files served to the people who may see them: the original bytes, or a small copy.

A file is looked up by its SHA-256 among the files of the companies the user may see; anything
else is a 404. The watermarked display copy of a photo in an event also needs the job to be visible. Answers are locked down (nosniff, inline, `default-src 'none'`) so a stored file can
never run in our origin, whatever it contains.
"""

from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from PIL import Image

from anlian.core.images import upright
from anlian.evidence import services
from anlian.evidence.models import DerivedFile, DerivedKind, StoredFile
from anlian.orgs import access

THUMB_EDGE = 320


def _visible_file(request: HttpRequest, sha256: str, **more) -> StoredFile:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise Http404()
    stored = access.visible(StoredFile, request.user).filter(sha256=sha256, **more).first()
    if stored is None:
        raise Http404()
    return stored


def _locked(response: HttpResponse, name: str) -> HttpResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cache-Control"] = "private, max-age=86400, immutable"  # content-addressed: never changes
    return response


@login_required
@require_GET
def file(request: HttpRequest, sha256: str) -> HttpResponse:
    stored = _visible_file(request, sha256)
    try:
        with stored.file.open("rb") as handle:
            data = handle.read()
    except OSError:
        raise Http404() from None
    return _locked(HttpResponse(data, content_type=stored.content_type), sha256[:16])


@login_required
@require_GET
def thumb(request: HttpRequest, sha256: str) -> HttpResponse:
    """A small JPEG of a stored image (decoded and re-encoded, upright), for timelines and lists."""
    stored = _visible_file(request, sha256)
    made = DerivedFile.objects.filter(original=stored, kind=DerivedKind.THUMB, event=None).first()
    if made is not None:
        return _locked(HttpResponse(_read(made), content_type="image/jpeg"), f"{sha256[:16]}-thumb.jpg")
    try:
        with stored.file.open("rb") as handle:
            image = Image.open(io.BytesIO(handle.read()))
            image = upright(image).convert("RGB")
        image.thumbnail((THUMB_EDGE, THUMB_EDGE))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise Http404() from None
    return _locked(HttpResponse(out.getvalue(), content_type="image/jpeg"), f"{sha256[:16]}-thumb.jpg")


def _read(derived: DerivedFile) -> bytes:
    try:
        with derived.file.open("rb") as handle:
            return handle.read()
    except OSError:
        raise Http404() from None


@login_required
@require_GET
def display(request: HttpRequest, sha256: str, event_id: int) -> HttpResponse:
    """The watermarked display copy of a photo as submitted in one event (made now if still missing)."""
    from anlian.flows.models import Event, Instance

    event = Event.objects.filter(pk=event_id).values("instance_id", "instance__company_id").first()
    if event is None or not access.visible(Instance, request.user).filter(pk=event["instance_id"]).exists():
        raise Http404()
    stored = _visible_file(request, sha256, company_id=event["instance__company_id"])
    derived = services.display_for(stored, event_id)
    if derived is None:
        raise Http404()
    return _locked(HttpResponse(_read(derived), content_type="image/jpeg"), f"{sha256[:16]}-{event_id}.jpg")
