"""Shipped workflow templates: the eight special operations of GB 30871-2022, lockout/tagout and the
three-step zero process, as YAML documents that safety staff can copy and edit.

Each file is named after its template key; ``shipped_templates()`` maps key → path and
``load_shipped(key)`` parses one with the engine's validation.
"""

from __future__ import annotations

from pathlib import Path

from anlian.flows.core import Template, load_template

SHIPPED_DIR = Path(__file__).parent


def shipped_templates() -> dict[str, Path]:
    """Every shipped template, by key (the file name without ``.yaml``), in name order."""
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.yaml"))}


def load_shipped(key: str) -> Template:
    """Parse and validate one shipped template; KeyError for an unknown key."""
    return load_template(shipped_templates()[key].read_text(encoding="utf-8"))
