"""Small template helpers shared by desktop and phone pages."""

from __future__ import annotations

from django import template
from django.http import HttpRequest

register = template.Library()


@register.simple_tag(takes_context=True)
def active(context: template.Context, prefix: str) -> str:
    """'active' when the current page lives under `prefix` (the home page only matches itself)."""
    request: HttpRequest | None = context.get("request")
    if request is None:
        return ""
    path = request.path
    hit = path == prefix if prefix in ("/", "/m/") else path.startswith(prefix)
    return "active" if hit else ""


@register.filter
def field_type(bound_field) -> str:
    """The widget kind of a form field, so one include can lay out checkboxes differently."""
    return bound_field.field.widget.__class__.__name__.lower()


@register.filter
def indent(depth: int) -> str:
    """Full-width spaces that show tree depth inside a flat <select>."""
    return "　" * int(depth or 0)
