"""The English translation is complete and compiled, and the language switch works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import anlian
from tests.conftest import client_for

PACKAGE = Path(anlian.__file__).parent
PO = PACKAGE / "locale/en/LC_MESSAGES/django.po"
MO = PO.with_suffix(".mo")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "anlian.settings", "ANLIAN_DATA_DIR": str(cwd / "data")}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=env)


def test_every_text_in_the_code_has_an_english_translation(tmp_path):
    # Extract the strings of the current code into a fresh catalogue, then compare it with the
    # committed one: a new Chinese text without an English translation fails here.
    copy = tmp_path / "anlian"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("locale", "__pycache__", "static"))
    (copy / "locale").mkdir()
    made = run(sys.executable, "-m", "django", "makemessages", "-l", "en", "--no-location", cwd=copy)
    assert made.returncode == 0, made.stderr
    fresh = copy / "locale/en/LC_MESSAGES/django.po"
    compared = run("msgcmp", "--use-untranslated", str(PO), str(fresh), cwd=tmp_path)
    assert compared.returncode == 0, f"texts missing from {PO.name}:\n{compared.stderr[:3000]}"
    stats = run("msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO), cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert "untranslated" not in stats.stderr and "fuzzy" not in stats.stderr, stats.stderr


def test_the_compiled_catalogue_matches_the_source(tmp_path):
    compiled = tmp_path / "django.mo"
    result = run("msgfmt", "-o", str(compiled), str(PO), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert compiled.read_bytes() == MO.read_bytes(), "run `make messages` to recompile django.mo"


def test_pages_switch_between_chinese_and_english(world):
    client = client_for(world.a.admin)
    assert "组织" in client.get("/org/").content.decode()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/org/"})
    assert response.status_code == 302
    english = client.get("/org/").content.decode()
    assert "Organisation" in english or "Organization" in english
    assert "组织架构" not in english
