from __future__ import annotations

import pytest

from followups.announcement import (
    JOINED,
    LEFT,
    MAX_NAME_CHARS,
    Chorus,
    announcement,
    chorus_text,
    participant_name,
)
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


@pytest.mark.parametrize(
    ("names", "chorus", "text"),
    [
        (["Ada Lovelace", "Grace Hopper"], JOINED, "Ada Lovelace and Grace Hopper have joined the conference."),
        (["Ada", "Bob", "Cy"], JOINED, "Ada, Bob and Cy have joined the conference."),
        (["Ada", None, "Bob", "Cy", "Dee"], JOINED, "Ada, Bob, Cy and 2 others have joined the conference."),
        (["Ada", None], JOINED, "Ada and one other have joined the conference."),
        ([None, None, None], JOINED, "3 participants have joined the conference."),
        (["Ada", "Grace", *[None] * 37], Chorus(names=2), "Ada, Grace and 37 others have joined the conference."),
        (["Ada", "Bob"], LEFT, "Ada and Bob have left the conference."),
        (["Ada", "Bob"], Chorus(template="{names} sont là.", conjunction="et"), "Ada et Bob sont là."),
        (["Ada", "Bob"], Chorus(names=0), "2 participants have joined the conference."),
    ],
)  # fmt: skip
def test_a_merged_announcement_names_the_first_few_and_counts_only_the_rest(
    names: list[str | None], chorus: Chorus, text: str
) -> None:
    assert chorus_text(names, chorus) == text


def test_a_merged_announcement_stays_within_the_apis_limit() -> None:
    assert len(chorus_text(["x" * 100] * 20, Chorus(names=20))) <= 3000


@pytest.mark.parametrize(
    "words",
    [{"template": "{name} joined"}, {"others": "{n} more"}, {"one_other": "{count}"}, {"names": 21}, {"template": "{names.__class__}"}],
)  # fmt: skip
def test_merged_words_with_the_wrong_placeholders_are_refused(words: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"placeholders allowed|names must be"):
        Chorus(**words)  # type: ignore[arg-type]
