"""Evidence files are served only to people of the owning company, locked down against running in our origin."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from anlian.evidence.services import store_photo
from tests.conftest import World, client_for


def jpeg(color: str = "red", size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=85)
    return out.getvalue()


def stored(world: World, data: bytes | None = None):
    data = data or jpeg()
    return store_photo(world.a.worker.user, world.a.unit, SimpleUploadedFile("p.jpg", data, "image/jpeg")), data


def test_a_person_of_the_company_gets_the_original_bytes_locked_down(world):
    photo, data = stored(world)
    response = client_for(world.a.officer).get(reverse("evidence:file", args=[photo.sha256]))
    assert response.status_code == 200
    assert response.content == data
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Security-Policy"] == "default-src 'none'"


def test_the_thumbnail_is_a_small_reencoded_jpeg(world):
    photo, _data = stored(world, jpeg("blue", (1600, 1200)))
    response = client_for(world.a.worker).get(reverse("evidence:thumb", args=[photo.sha256]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Security-Policy"] == "default-src 'none'"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and max(image.size) <= 320


def test_another_company_and_strangers_get_nothing(world):
    photo, _data = stored(world)
    for name in ("evidence:file", "evidence:thumb"):
        url = reverse(name, args=[photo.sha256])
        assert client_for(world.b.admin).get(url).status_code == 404
        assert client_for(world.b.worker).get(url).status_code == 404
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_bad_hashes_are_404_never_500(world):
    client = client_for(world.a.admin)
    for bad in ("0" * 64, "abc", "Z" * 64, "../" * 22, "a" * 65, "%01" * 10):
        assert client.get(f"/files/{bad}/").status_code == 404
        assert client.get(f"/files/{bad}/thumb/").status_code == 404
    assert client.get("/files/" + "%00" * 10 + "/").status_code == 422  # NUL: refused at the door


def test_the_same_photo_in_two_companies_is_served_from_the_viewers_own(world):
    data = jpeg("green")
    a_copy, _ = stored(world, data)
    b_copy = store_photo(world.b.worker.user, world.b.unit, SimpleUploadedFile("p.jpg", data, "image/jpeg"))
    assert a_copy.sha256 == b_copy.sha256 and a_copy.pk != b_copy.pk
    assert client_for(world.b.worker).get(reverse("evidence:file", args=[b_copy.sha256])).content == data


def test_only_get_is_allowed(world):
    photo, _data = stored(world)
    assert client_for(world.a.admin).post(reverse("evidence:file", args=[photo.sha256])).status_code == 405
