"""Operators' text templates: str.format with named placeholders, and nothing else."""

from __future__ import annotations

from string import Formatter


def check_placeholders(template: str, allowed: set[str]) -> str:
    """`template` as given, if its only placeholders are `allowed`; ValueError otherwise.
    (str.format with an operator's text: nothing may reach attributes or indexes.)"""
    try:
        fields = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a valid template: {exc}") from None
    if fields - allowed:
        wanted = ", ".join(f"{{{a}}}" for a in sorted(allowed)) or "none"
        raise ValueError(f"{template!r}: the placeholders allowed are {wanted}")
    return template
