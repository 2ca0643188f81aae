from __future__ import annotations

import pytest

from followups.announcement import MAX_NAME_CHARS, announcement, participant_name
from sandbox.events import client_state

TEMPLATE = "{name} has joined the conference."
FALLBACK = "A new participant has joined the conference."


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (client_state({"name": "Alice Martin"}), "Alice Martin"),
        (client_state({"name": "  Bob\n\tOkafor  "}), "Bob Okafor"),
        (client_state("Chandra Rao"), "Chandra Rao"),
        (client_state('"Quoted Name"'), "Quoted Name"),
        (client_state({"name": "Zoë Ñúñez"}), "Zoë Ñúñez"),
        (client_state({"name": "Eve\u0000\u200bLyn"}), "EveLyn"),
        (client_state({"id": 7}), None),
        (client_state({"name": 42}), None),
        (client_state({"name": "   "}), None),
        (client_state("[1, 2]"), None),
        (client_state("12"), None),
        ("not base64!", None),
        ("////", None),
        ("", None),
        (None, None),
    ],
)
def test_participant_name_from_client_state(state: str | None, name: str | None) -> None:
    assert participant_name(state) == name


def test_long_names_are_cut() -> None:
    name = participant_name(client_state({"name": "N" * 5000}))
    assert name is not None
    assert len(name) == MAX_NAME_CHARS


def test_announcement_names_the_participant_or_falls_back() -> None:
    assert announcement("Alice", TEMPLATE, FALLBACK) == "Alice has joined the conference."
    assert announcement(None, TEMPLATE, FALLBACK) == FALLBACK


def test_announcement_is_bounded_to_the_api_limit() -> None:
    assert len(announcement("x", "{name}" + "y" * 5000, FALLBACK)) == 3000


def test_braces_in_a_name_are_spoken_not_formatted() -> None:
    assert announcement("{name.__class__}", TEMPLATE, FALLBACK).startswith("{name.__class__}")
