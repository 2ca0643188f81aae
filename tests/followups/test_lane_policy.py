"""The lane's next step, as pure logic: order, the settle time, merging, moot work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.naming import merged_id
from followups.announcement import JOINED
from followups.followup import Announce, FollowUp
from followups.lane_policy import (
    Drop,
    Idle,
    Inflight,
    LaneItem,
    LaneState,
    Send,
    Timing,
    Wait,
    next_step,
)

NOW = 1_800_000_000_000
TIMING = Timing(settle_ms=1000, spacing_ms=1000, max_age_ms=900_000, wants_created=True)
CREATED = LaneState(first_ms=NOW - 10, created=True)


def record(event: str = "e0") -> LaneItem:
    followup = FollowUp("conference", "record_start", "c1", {"format": "mp3", "command_id": "x"})
    return LaneItem(f"a-{event}", followup, event, "conference.created", None, (NOW - 100) * 1000)


def join(n: int, name: str | None = None, *, at: int = NOW - 50, who: str = "") -> LaneItem:
    announce = Announce("g", JOINED, name, who or f"call-{n}", joined=True)
    params = {"payload": f"{name} has joined.", "voice": "female", "command_id": f"cmd-{n}"}
    followup = FollowUp("conference", "speak", "c1", params, announce)
    return LaneItem(f"a-{n}", followup, f"e{n}", "conference.participant.joined", None, at * 1000)


def other(n: int, event_type: str = "conference.participant.joined") -> LaneItem:
    followup = FollowUp("conference", "update", "c1", {"supervisor_role": "whisper"})
    return LaneItem(f"u-{n}", followup, f"e{n}", event_type, None, (NOW - 50) * 1000)


def test_an_empty_lane_is_idle() -> None:
    assert next_step([], CREATED, NOW, TIMING) == Idle()


def test_the_head_goes_alone_under_its_own_ids() -> None:
    step = next_step([record(), join(1, "Ada")], CREATED, NOW, TIMING)
    assert isinstance(step, Send)
    assert step.batch_id == "a-e0"
    assert step.followup == record().followup


def test_a_created_item_sorts_before_everything_else() -> None:
    assert record().score == 0
    assert join(1).score == (NOW - 50) * 1000  # in microseconds


def test_without_its_created_a_lane_waits_the_settle_time_then_carries_on() -> None:
    state = LaneState(first_ms=NOW - 400)
    step = next_step([join(1, "Ada")], state, NOW, TIMING)
    assert step == Wait(NOW + 600, "waiting for conference.created")
    assert isinstance(next_step([join(1, "Ada")], state, NOW + 600, TIMING), Send)


def test_no_settle_time_when_the_rules_do_not_act_on_created() -> None:
    timing = Timing(settle_ms=1000, spacing_ms=1000, max_age_ms=900_000, wants_created=False)
    assert isinstance(next_step([join(1, "Ada")], LaneState(first_ms=NOW), NOW, timing), Send)


def test_waiting_joins_of_one_group_merge_in_order_up_to_another_command() -> None:
    items = [join(1, "Ada Lovelace"), join(2, None), join(3, "Grace Hopper"), other(4), join(5)]
    step = next_step(items, CREATED, NOW, TIMING)
    assert isinstance(step, Send)
    assert [i.action_id for i in step.items] == ["a-1", "a-2", "a-3"]
    assert step.batch_id == merged_id(["a-1", "a-2", "a-3"])
    params = step.followup.params
    assert (
        params["payload"] == "Ada Lovelace, Grace Hopper and one other have joined the conference."
    )
    assert params["voice"] == "female"
    assert params["command_id"] not in ("cmd-1", "cmd-2", "cmd-3")
    # the same batch always gets the same command_id (Telnyx ignores a resend of it)
    again = next_step(items, CREATED, NOW + 5, TIMING)
    assert isinstance(again, Send)
    assert again.followup.params["command_id"] == params["command_id"]
    # a different composition (one join fewer) is a different command, to the ledger and Telnyx
    fewer = next_step([items[0], items[2], items[3]], CREATED, NOW, TIMING)
    assert isinstance(fewer, Send)
    assert fewer.batch_id != step.batch_id
    assert fewer.followup.params["command_id"] != params["command_id"]


def test_announcements_of_different_groups_do_not_merge() -> None:
    items = [join(1, "Ada"), join(2, "Bob")]
    items[1] = LaneItem(
        "a-2",
        FollowUp(
            "conference", "speak", "c1", {"payload": "x"}, Announce("h", JOINED, "Bob", "c", True)
        ),
        "e2",
        "conference.participant.joined",
        None,
        NOW * 1000,
    )
    step = next_step(items, CREATED, NOW, TIMING)
    assert isinstance(step, Send)
    assert len(step.items) == 1


def test_an_announcement_soon_after_the_last_waits_for_the_interval() -> None:
    state = LaneState(first_ms=NOW - 10, created=True, announced=NOW - 300)
    assert next_step([join(1, "Ada")], state, NOW, TIMING) == Wait(
        NOW + 700, "spacing announcements"
    )
    # other commands are not spaced
    assert isinstance(next_step([other(1)], state, NOW, TIMING), Send)


def test_after_the_end_everything_but_the_ends_own_follow_ups_is_moot() -> None:
    ended = other(9, "conference.ended")
    state = LaneState(first_ms=NOW, created=True, ended=True)
    step = next_step([join(1, "Ada"), record(), ended], state, NOW, TIMING)
    assert isinstance(step, Drop)
    assert [i.action_id for i in step.items] == ["a-1", "a-e0"]
    assert step.outcome == "moot"
    assert isinstance(next_step([ended], state, NOW, TIMING), Send)


def test_a_join_announcement_is_moot_once_its_participant_left() -> None:
    state = LaneState(first_ms=NOW, created=True, left={"call-2": (NOW - 10) * 1000})
    step = next_step([join(1, "Ada"), join(2, "Bob"), join(3, "Cy")], state, NOW, TIMING)
    assert step == Drop([join(2, "Bob")], "the participant has left")
    # ... but not one who joined again after leaving
    rejoined = join(2, "Bob", at=NOW - 5)
    assert isinstance(next_step([rejoined], state, NOW, TIMING), Send)


def test_an_old_event_is_dropped_as_expired() -> None:
    old = join(1, "Ada", at=NOW - 900_001)
    step = next_step([old, join(2, "Bob")], CREATED, NOW, TIMING)
    assert step == Drop([old], "the event is too old to act on", outcome="expired")


@pytest.mark.parametrize("item", [record(), join(1, "Ada"), join(2, None), other(3)])
def test_items_and_inflight_commands_survive_storage(item: LaneItem) -> None:
    assert LaneItem.from_json(item.to_json()) == item
    step = next_step([item, join(4, "Bo")], CREATED, NOW, TIMING)
    assert isinstance(step, Send)
    inflight = Inflight.of(step)
    assert Inflight.from_json(inflight.to_json()) == inflight


def test_event_times_keep_their_microseconds() -> None:
    from datetime import UTC, datetime

    from followups.lane_policy import occurred_us

    when = datetime(2026, 11, 22, 3, 0, 0, 521992, tzinfo=UTC)
    assert occurred_us(when, 0) % 1_000_000 == 521992
    assert occurred_us(when.replace(tzinfo=None), 0) == occurred_us(when, 0)
    assert occurred_us(None, 1234) == 1_234_000


def test_each_action_has_its_own_age_past_which_it_is_given_up_on() -> None:
    timing = Timing(
        settle_ms=0, spacing_ms=0, max_age_ms=900_000, wants_created=False,
        announce_max_age_ms=120_000,
    )  # fmt: skip
    old = NOW - 200_000  # 200 s ago
    # An announcement is moot sooner than a recording...
    assert timing.max_age_of(join(1, "Ada", at=old)) == 120_000
    assert timing.max_age_of(record()) == 900_000
    step = next_step([join(1, "Ada", at=old)], CREATED, NOW, timing)
    assert isinstance(step, Drop)
    assert step.outcome == "expired"
    # ... unless its rule says otherwise
    patient = join(2, "Bob", at=old)
    patient = LaneItem(
        patient.action_id,
        FollowUp("conference", "speak", "c1", patient.followup.params,
                 patient.followup.announce, max_age=300),
        patient.event_id, patient.event_type, None, patient.occurred_us,
    )  # fmt: skip
    assert timing.max_age_of(patient) == 300_000
    assert isinstance(next_step([patient], CREATED, NOW, timing), Send)
    # (and it survives the lane's storage)
    assert LaneItem.from_json(patient.to_json()).followup.max_age == 300


def test_a_rule_s_priority_survives_the_lane_s_storage() -> None:
    item = join(1, "Ada", at=NOW)
    first = LaneItem(
        item.action_id, replace(item.followup, priority="first"), item.event_id, item.event_type,
        None, item.occurred_us,
    )  # fmt: skip
    assert LaneItem.from_json(first.to_json()).followup.goes_first
    assert not LaneItem.from_json(item.to_json()).followup.goes_first
