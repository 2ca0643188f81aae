"""The demo's conference, as `telnyx-sandbox scenario` sends it and the demo checks it."""

from __future__ import annotations

import uuid
from typing import Any

from sandbox.events import client_state, make_event

NAMES = ["Alice Martin", "Bob Okafor", "Chandra Rao"]


def scenario(conference_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A conference is created, three named participants join, one leaves, it is recorded;
    and (to be sent once its commands are out) its end."""
    states = [
        client_state({"name": NAMES[0], "crm_id": 1042}),
        client_state({"name": NAMES[1]}),
        client_state(NAMES[2]),
    ]
    events = [make_event("conference.created", conference_id=conference_id)]
    events += [
        make_event("conference.participant.joined", conference_id=conference_id, client_state=state)
        for state in states
    ]
    events += [
        make_event("conference.participant.left", conference_id=conference_id),
        make_event(
            "conference.recording.saved",
            conference_id=conference_id,
            recording_id=str(uuid.uuid4()),
            format="mp3",
            channels="single",
            recording_urls={"mp3": "https://example.com/recording.mp3"},
        ),
    ]
    return events, make_event("conference.ended", conference_id=conference_id, reason="all_left")
