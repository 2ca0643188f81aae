"""The Lua scripts (records/lua/) against their headers, and the loader that runs them
(records/scripts.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
import redis

from records import scripts
from records.scripts import ArgumentError, Command, Script, ScriptError

NAMES = scripts.names()
LIBRARIES = scripts.libraries()
_SIDE = re.compile(r"\b(KEYS|ARGV)\b")
_FUNCTION = re.compile(r"^local function (\w+)\(", re.MULTILINE)
SHARED_FUNCTIONS = {f for path in LIBRARIES for f in _FUNCTION.findall(scripts.read(path))}


def _code(lines: list[str]) -> list[str]:
    """The lines that are not comments or blank."""
    return [line for line in lines if line.strip() and not line.lstrip().startswith("--")]


def _binding(side: str, names: tuple[str, ...]) -> list[str]:
    """The lines that bind one side's names, in the form every script writes them."""
    scalars = [n for n in names if not n.endswith("...")]
    lists = [n.removesuffix("...") for n in names if n.endswith("...")]
    lines = [f"local {name} = {side}[{i}]" for i, name in enumerate(scalars, 1)]
    if len(lists) == 1:
        lines.append(f"local {lists[0]} = tail({side}, {len(scalars) + 1})")
    elif lists:
        lines.append(f"local {', '.join(lists)} = lists({side}, {len(scalars) + 1}, {len(lists)})")
    return lines


def test_the_scripts_are_found() -> None:
    assert "lanes/append" in NAMES
    assert "fleet/tell" in NAMES
    assert "lib/fleet_tell.lua" in LIBRARIES
    assert not [n for n in NAMES if n.startswith("lib/")]


@pytest.mark.parametrize("name", NAMES)
def test_every_name_is_bound_in_order_right_after_the_header(name: str) -> None:
    script = scripts.load(name)
    lines = scripts.read(f"{name}.lua").splitlines()
    body = lines[len(scripts.header_lines("\n".join(lines))) :]
    expected = _binding("KEYS", script.keys) + _binding("ARGV", script.args)
    code = _code(body)
    assert code[: len(expected)] == expected
    # Bound at once: the block is the body's first lines, after a blank line at most
    first = next(i for i, line in enumerate(body) if line.strip())
    assert body[first : first + len(expected)] == expected
    # And never read by number afterwards
    assert [line for line in code[len(expected) :] if _SIDE.search(line)] == []


@pytest.mark.parametrize("name", NAMES)
def test_every_script_says_what_it_answers(name: str) -> None:
    header = "\n".join(scripts.header_lines(scripts.read(f"{name}.lua")))
    assert re.search(r"^-- Answers: ", header, re.MULTILINE)


@pytest.mark.parametrize("path", LIBRARIES)
def test_shared_parts_never_read_keys_or_argv(path: str) -> None:
    lines = scripts.read(path).splitlines()
    assert [line for line in _code(lines) if _SIDE.search(line)] == []


@pytest.mark.parametrize("name", NAMES)
def test_includes_resolve_once_each(name: str) -> None:
    source = scripts.load(name).source
    assert "--! include" not in source
    functions = _FUNCTION.findall(source)
    assert len(functions) == len(set(functions))
    # Every shared function a script calls is in it (Redis would say so only when the call
    # runs)
    called = {f for f in SHARED_FUNCTIONS if re.search(rf"\b{f}\(", source)}
    assert called <= set(functions)


@pytest.mark.parametrize("name", NAMES)
def test_every_script_compiles_in_redis(redis_client: redis.Redis, name: str) -> None:
    script = scripts.load(name)
    assert redis_client.script_load(script.source) == script.sha


def test_arguments_go_by_name_in_the_headers_order(redis_client: redis.Redis) -> None:
    script = scripts.load("lanes/drop")
    keys = {
        "q": "Q",
        "state": "S",
        "items": "I",
        "metrics": "M",
        "lease": "L",
        "letter_index": "X",
        "letters": "D",
        "timeline": "T",
        "done_keys": ["d1", "d2"],
    }
    args = {
        "owner": "o",
        "drain_id": "d",
        "lease_ms": 10,
        "done_ttl": 20,
        "failed_at": 30,
        "note": "",
        "timeline_cap": 5,
        "timeline_ttl": 40,
        "members": ["m1", "m2"],
        "action_ids": ["a1", "a2"],
        "dead_letters": ["", ""],
        "counters": ["c"],
    }
    # (Every list but the last goes with its length)
    assert script.argv(keys, args) == [
        10, "S", "Q", "I", "M", "L", "D", "X", "T", "d1", "d2",
        "d", "o", 10, 20, 30, "", 5, 40, 2, "m1", "m2", 2, "a1", "a2", 2, "", "", "c",
    ]  # fmt: skip


def test_a_missing_or_unknown_name_is_refused() -> None:
    script = scripts.load("journal/complete")
    keys = {"journal": "j", "since": "s"}
    assert script.argv(keys, {"task_id": "t"}) == [2, "j", "s", "t"]
    with pytest.raises(ArgumentError, match=r"missing \['task_id'\]"):
        script.argv(keys, {})
    with pytest.raises(ArgumentError, match=r"unknown \['task'\]"):
        script.argv(keys, {"task_id": "t", "task": "t"})
    with pytest.raises(ArgumentError, match=r"missing \['since'\], unknown \['times'\]"):
        script.argv({"journal": "j", "times": "s"}, {"task_id": "t"})


def test_a_redis_that_forgot_a_script_is_given_it_again(redis_client: redis.Redis) -> None:
    script = scripts.load("ledger/release")
    redis_client.set("claim", "me")
    redis_client.script_flush()
    assert script.run(redis_client, {"claim": "claim"}, {"owner": "me"}) == 1
    assert redis_client.script_exists(script.sha) == [True]


def test_a_batch_goes_again_with_the_text_of_the_scripts_forgotten(
    redis_client: redis.Redis,
) -> None:
    release = scripts.load("ledger/release")
    begin = scripts.load("ledger/begin")
    release.run(redis_client, {"claim": "c0"}, {"owner": "me"})  # (known to Redis)
    redis_client.script_flush()
    begin.run(
        redis_client, {"done": "d", "claim": "c1", "lane": "d"}, {"owner": "me", "lease_ms": 1000}
    )
    sent: list[list[str]] = []
    pipeline = scripts.pipelined(redis_client)

    def send(commands: Sequence[Command]) -> list[Any]:
        sent.append([c[0] for c in commands])
        return pipeline(commands)

    calls = [
        (release, release.argv({"claim": "c1"}, {"owner": "me"})),
        (
            begin,
            begin.argv(
                {"done": "d", "claim": "c2", "lane": "d"}, {"owner": "me", "lease_ms": 1000}
            ),
        ),
    ]
    answers = scripts.run_batch(send, calls, then=[("ECHO", "after")])
    assert answers == [1, b"claimed", b"after"]
    # The one Redis had forgotten went again, with the command after the calls
    assert sent == [["EVALSHA", "EVALSHA", "ECHO"], ["EVAL", "ECHO"]]


def test_includes_go_in_once_and_may_not_include_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = {
        "s.lua": "-- KEYS: k\n-- ARGV: a\n--! include lib/a.lua\n--! include lib/b.lua\nreturn 1\n",
        "lib/a.lua": "--! include lib/b.lua\nlocal function a() end\n",
        "lib/b.lua": "local function b() end\n",
        "loop.lua": "-- KEYS: k\n-- ARGV: a\n--! include lib/c.lua\n",
        "lib/c.lua": "--! include lib/d.lua\n",
        "lib/d.lua": "--! include lib/c.lua\n",
    }
    monkeypatch.setattr(scripts, "read", files.__getitem__)
    assert scripts._resolve("s.lua", set(), ()).count("local function b()") == 1
    with pytest.raises(ScriptError, match="includes itself"):
        scripts._resolve("loop.lua", set(), ())


@pytest.mark.parametrize(
    "header",
    [
        "-- KEYS: k\n",  # no ARGV
        "-- KEYS: k, rest..., more\n-- ARGV: a\n",  # a name after a list
        "-- KEYS: k\n-- ARGV: k\n",  # a name twice
        "-- KEYS: k\n-- ARGV: Not-a-name\n",
    ],
)
def test_a_header_without_its_names_is_refused(header: str) -> None:
    with pytest.raises(ScriptError):
        scripts.header_names(header + "return 1\n", "bad")


def test_a_list_of_names_goes_on_after_a_comma() -> None:
    header = "-- What it does.\n-- KEYS: a,\n--       b\n-- ARGV: c, d,\n--       e...\nreturn 1\n"
    assert scripts.header_names(header, "s") == (["a", "b"], ["c", "d", "e..."])


def test_a_script_knows_its_names() -> None:
    script = Script("s", "return 1", ["k"], ["a", "rest..."])
    assert (script.keys, script.args) == (("k",), ("a", "rest..."))
    assert script.argv({"k": "K"}, {"a": 1, "rest": [2, 3]}) == [1, "K", 1, 2, 3]
