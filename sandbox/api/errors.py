"""Telnyx's error body: a list of errors, each with a code, a title, a detail and, for a field,
a pointer to it. The rate limit page shows one (code 10011):
https://developers.telnyx.com/development/api-fundamentals/reliability/rate-limiting
"""

from __future__ import annotations

from typing import Any


def error(code: str, title: str, detail: str = "", pointer: str = "") -> dict[str, Any]:
    """{"errors": [{"code", "title", "detail", "source": {"pointer"}}]}, as Telnyx answers."""
    found: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer:
        found["source"] = {"pointer": pointer}
    return {"errors": [found]}
