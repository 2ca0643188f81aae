from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from core.naming import command_id
from followups.rules import RulesError, load_rules, plan
from sandbox.events import client_state, make_event
from telnyx_api.events import Event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rules.toml"
EVENT = TypeAdapter(Event)


def _event(event_type: str, **payload: object) -> Event:
    return EVENT.validate_python(make_event(event_type, **payload)["data"])


def test_the_example_file_loads() -> None:
    assert len(load_rules(EXAMPLE)) == 7


def test_templates_conditions_and_fallbacks() -> None:
    rules = load_rules(EXAMPLE)
    named = _event(
        "conference.participant.joined",
        conference_id="c1",
        client_state=client_state({"name": "Ann"}),
    )
    [speak] = plan(named, rules)
    assert (speak.action, speak.target, speak.params["payload"]) == (
        "speak",
        "c1",
        "Ann has joined the conference.",
    )
    assert speak.params["command_id"]
    anonymous = _event("conference.participant.left", conference_id="c1")
    assert plan(anonymous, rules)[0].params["payload"] == "A participant has left the conference."
    supervisor = _event(
        "conference.participant.joined",
        conference_id="c1",
        call_control_id="v3:sup",
        client_state=client_state({"name": "Sam", "role": "supervisor", "agent": "v3:agent"}),
    )
    update = next(f for f in plan(supervisor, rules) if f.action == "update")
    assert update.params["call_control_id"] == "v3:sup"
    assert update.params["whisper_call_control_ids"] == ["v3:agent"]
    assert "command_id" in update.params


def test_callers_waiting_hear_hold_music_and_only_they_do() -> None:
    rules = load_rules(EXAMPLE)
    caller = _event(
        "conference.participant.joined",
        conference_id="c1",
        call_control_id="v3:caller",
        client_state=client_state({"role": "caller"}),
    )
    [hold] = [f for f in plan(caller, rules) if f.action == "hold"]
    assert hold.target == "c1"
    # Only the caller: an empty list would put every participant on hold
    assert hold.params == {
        "call_control_ids": ["v3:caller"],
        "audio_url": "https://example.com/hold-music.mp3",
    }
    agent = _event("conference.participant.joined", client_state=client_state({"role": "agent"}))
    assert [f.action for f in plan(agent, rules)] == ["speak"]


def test_when_must_match_every_field() -> None:
    rules = load_rules(EXAMPLE)
    assert plan(_event("conference.ended", reason="all_left"), rules) == []
    [stop] = plan(_event("conference.ended", conference_id="c9", reason="time_exceeded"), rules)
    assert (stop.action, stop.target) == ("record_stop", "c9")
    timed_out = _event(
        "call.dequeued", call_control_id="v3:caller", queue="support", reason="timeout"
    )
    [enqueue] = plan(timed_out, rules)
    assert (enqueue.kind, enqueue.action, enqueue.target) == ("call", "enqueue", "v3:caller")
    assert plan(_event("call.dequeued", queue="support", reason="bridged"), rules) == []


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\non = "conference.created"\naction = "conference.fly"\n', ":1: rule 1: unknown action 'conference.fly'"),
        ('\n\n[[rule]]\non = "conference.nope"\naction = "conference.record_stop"\n', ":3: rule 1: on: Value error, unknown event type(s): conference.nope"),
        ('[[rule]]\non = "conference.created"\naction = "conference.record_start"\nparams = { format = "ogg" }\n', ":1: rule 1: format"),
        ('[[rule]]\non = "conference.created"\naction = "conference.record_start"\nparams = { format = "mp3", colour = "red" }\n', ":1: rule 1: colour"),
        ('[[rule]]\non = "conference.created"\naction = "conference.speak"\nparams = { payload = "{nme}", voice = "f", call_control_ids = "everyone" }\n', "unknown placeholder {nme}"),
        ('[[rule]]\non = "conference.created"\naction = "conference.mute"\nparams = { call_control_ids = "all" }\n', "call_control_ids must be a non-empty list of call control ids, or EVERYONE"),
        ('[[rule]]\non = "conference.created"\naction = "conference.record_stop"\nwhen = 3\n', ":1: rule 1: when"),
        ('[[rules]]\non = "x"\n', "unknown table(s): rules"),
        ('[[rule]\n', "rules.toml: "),
        ('[[rule]]\non = "conference.participant.left"\naction = "conference.speak"\nparams = { payload = "x", call_control_ids = "everyone" }\nmerge = { template = "{name} left" }\n', ":1: rule 1: merge: Value error, merge: '{name} left': the placeholders allowed are {names}"),
        ('[[rule]]\non = "conference.participant.left"\naction = "conference.speak"\nparams = { payload = "x", call_control_ids = "everyone" }\nmerge = { names = "two" }\n', "merge: names must be a whole number"),
        ('[[rule]]\non = "conference.participant.left"\naction = "conference.speak"\nparams = { payload = "x", call_control_ids = "everyone" }\nmerge = { colour = "red" }\n', "merge: unknown key(s) colour"),
    ],
    ids=["unknown action", "unknown event", "bad enum", "unknown param", "unknown placeholder", "no participants", "bad when", "wrong table", "bad toml", "bad merge template", "bad merge names", "unknown merge key"],
)  # fmt: skip
def test_a_bad_file_is_refused_with_line_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(_write(tmp_path, text))
    assert message in str(caught.value)


def test_leaving_out_call_control_ids_means_everyone(tmp_path: Path) -> None:
    text = '[[rule]]\non = "conference.created"\naction = "conference.mute"\n'
    [mute] = plan(
        _event("conference.created", conference_id="c1"), load_rules(_write(tmp_path, text))
    )
    assert (mute.action, mute.params.get("call_control_ids")) == ("mute", None)


def test_a_rule_can_say_how_long_its_action_still_matters(tmp_path: Path) -> None:
    text = '[[rule]]\non = "conference.created"\naction = "conference.record_start"\nparams = { format = "mp3" }\nmax_age = 3600\n'
    [start] = plan(
        _event("conference.created", conference_id="c1"), load_rules(_write(tmp_path, text))
    )
    assert start.max_age == 3600
    with pytest.raises(RulesError, match="max_age"):
        load_rules(_write(tmp_path, text.replace("3600", "1")))


def test_a_rule_can_say_its_commands_go_first_when_the_fleet_is_paced(tmp_path: Path) -> None:
    created = _event("conference.created", conference_id="c1")
    text = '[[rule]]\non = "conference.created"\naction = "conference.record_start"\nparams = { format = "mp3" }\n'
    [start] = plan(created, load_rules(_write(tmp_path, text)))
    assert start.goes_first  # (a recording, by default)
    hold = '[[rule]]\non = "conference.created"\naction = "conference.hold"\npriority = "first"\n'
    [held] = plan(created, load_rules(_write(tmp_path, hold)))
    assert (held.priority, held.goes_first) == ("first", True)
    normal = text + 'priority = "normal"\n'
    assert not plan(created, load_rules(_write(tmp_path, normal)))[0].goes_first
    with pytest.raises(RulesError, match="priority"):
        load_rules(_write(tmp_path, text + 'priority = "urgent"\n'))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")


def test_a_file_can_keep_the_built_in_rules(tmp_path: Path) -> None:
    from followups.policy import Policy, default_rules
    from followups.rules import load_rules_file

    path = tmp_path / "rules.toml"
    path.write_text(
        'include_defaults = true\n[[rule]]\non = "conference.ended"\n'
        'action = "conference.record_stop"\n'
    )
    found = load_rules_file(path)
    assert found.include_defaults is True
    rules = [*default_rules(Policy()), *found.rules]
    created = _event("conference.created", conference_id="c1")
    ended = _event("conference.ended", conference_id="c1", reason="all_left")
    assert [f.action for f in plan(created, rules)] == ["record_start"]
    assert [f.action for f in plan(ended, rules)] == ["record_stop"]
    # The file's own rules keep their keys (rule<N>), the built-in ones the defaults' keys
    [stop] = plan(ended, rules)
    assert stop.params["command_id"] == command_id(ended.id, "rule1:conference.record_stop:c1")


LEAVES = """
[[rule]]
on = "conference.participant.left"
action = "conference.speak"
params = { payload = "{name} has left.", voice = "male", call_control_ids = "everyone" }
fallback = { payload = "Someone has left." }
"""


def test_leave_announcements_merge_with_default_words_or_the_files(tmp_path: Path) -> None:
    left = _event(
        "conference.participant.left",
        conference_id="c1",
        call_control_id="v3:ann",
        client_state=client_state({"name": "Ann"}),
    )
    [followup] = plan(left, load_rules(_write(tmp_path, LEAVES)))
    assert followup.announce is not None
    assert followup.announce.name == "Ann"
    assert followup.announce.participant == "v3:ann"
    assert followup.announce.joined is False
    assert followup.announce.chorus.template == "{names} have left the conference."
    worded = LEAVES + 'merge = { template = "{names} left.", names = 1, others = "{count} more" }\n'
    [followup] = plan(left, load_rules(_write(tmp_path, worded)))
    assert followup.announce is not None
    assert (followup.announce.chorus.template, followup.announce.chorus.names) == (
        "{names} left.",
        1,
    )
    [followup] = plan(left, load_rules(_write(tmp_path, LEAVES + "merge = false\n")))
    assert followup.announce is None


def test_only_speaks_on_joins_and_leaves_are_announcements() -> None:
    rules = load_rules(EXAMPLE)
    supervisor = _event(
        "conference.participant.joined",
        conference_id="c1",
        client_state=client_state({"name": "Sue", "role": "supervisor", "agent": "v3:a"}),
    )
    found = {f.action: f.announce for f in plan(supervisor, rules)}
    assert found["speak"] is not None
    assert found["update"] is None
