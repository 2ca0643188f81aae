"""The Redis Lua scripts, one file each under records/lua/, and the one way they are run.

Each file opens with a header comment: what the script does, then its KEYS and ARGV by name,
in order (a list that ends with a comma goes on on the next line):

    -- KEYS: state, q, items, lease, journal, since
    -- ARGV: drain_id, owner, lease_ms, take_limit

A name written `name...` is a list of values. The last list of a side runs to its end; each
list before it is sent as its length, then its items (lib/args.lua reads them back). Right
after the header the script binds every name, in order, and never reads KEYS or ARGV again.

A header line `--! include lib/x.lua` puts that file there (once a script, however often it is
asked for): the parts several scripts share, such as the fleet's two steps.

Callers pass KEYS and ARGV by name (`script.run(client, keys={...}, args={...})`); a name
missing or unknown is an ArgumentError. Files are read, and their SHA computed, once: a call
sends EVALSHA directly, and a Redis that has forgotten the script (a restart, a failover, a
SCRIPT FLUSH) answers NOSCRIPT, so the call goes again with the script's text (EVAL), which
also loads it for the next.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import redis
from redis.exceptions import NoScriptError

# One Redis command, as execute_command takes it.
Command = tuple[Any, ...]
# Sends commands in one round trip; returns each one's answer, or the error Redis gave it.
Send = Callable[[Sequence[Command]], list[Any]]

_SIDES = ("KEYS", "ARGV")
_NAMES = re.compile(r"^-- (KEYS|ARGV):(.*)$")
_INCLUDE = re.compile(r"^--! include (\S+)$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.\.\.)?$")
_LIB = "lib"


class ScriptError(Exception):
    """A script file that cannot be used: a header without its names, an include missing or
    including itself."""


class ArgumentError(TypeError):
    """A call whose KEYS or ARGV names are not its script's."""


class _Names:
    """One side of a header (KEYS or ARGV): its names, and how a call's values are flattened."""

    __slots__ = ("count", "counted", "names", "scalars", "side", "tail")

    def __init__(self, side: str, names: Sequence[str]) -> None:
        self.side = side
        self.names = tuple(names)
        self.scalars = tuple(n for n in names if not n.endswith("..."))
        lists = tuple(n[:-3] for n in names if n.endswith("..."))
        self.counted = lists[:-1]
        self.tail = lists[-1] if lists else None
        self.count = len(names)

    def flat(self, given: Mapping[str, Any], script: str) -> list[Any]:
        try:
            if len(given) != self.count:
                raise KeyError
            values = [given[name] for name in self.scalars]
            for name in self.counted:
                items = given[name]
                values.append(len(items))
                values += items
            if self.tail is not None:
                values += given[self.tail]
        except KeyError:
            raise ArgumentError(self._mismatch(given, script)) from None
        return values

    def _mismatch(self, given: Mapping[str, Any], script: str) -> str:
        expected = [n.removesuffix("...") for n in self.names]
        missing = [n for n in expected if n not in given]
        unknown = [n for n in given if n not in expected]
        return f"{script} {self.side}: missing {missing}, unknown {unknown}"


class Script:
    """One script: its text with its includes in place, its SHA, and its KEYS and ARGV names
    as its header gives them."""

    __slots__ = ("_args", "_keys", "arg_names", "key_names", "name", "sha", "source")

    def __init__(self, name: str, source: str, keys: Sequence[str], args: Sequence[str]) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis's script id
        self._keys = _Names("KEYS", keys)
        self._args = _Names("ARGV", args)
        # The names a call passes its KEYS and ARGV by (a list's without its `...`).
        self.key_names = tuple(n.removesuffix("...") for n in keys)
        self.arg_names = tuple(n.removesuffix("...") for n in args)

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys.names

    @property
    def args(self) -> tuple[str, ...]:
        return self._args.names

    def argv(self, keys: Mapping[str, Any], args: Mapping[str, Any]) -> list[Any]:
        """What follows the script in EVAL or EVALSHA: the number of keys, the keys, the
        arguments, each in its header's order."""
        flat_keys = self._keys.flat(keys, self.name)
        return [len(flat_keys), *flat_keys, *self._args.flat(args, self.name)]

    def run(self, client: redis.Redis, keys: Mapping[str, Any], args: Mapping[str, Any]) -> Any:
        """Run the script on `client` and return its answer."""
        argv = self.argv(keys, args)
        try:
            return client.execute_command("EVALSHA", self.sha, *argv)  # type: ignore[no-untyped-call]
        except NoScriptError:
            return client.execute_command("EVAL", self.source, *argv)  # type: ignore[no-untyped-call]


def run_batch(
    send: Send, calls: Sequence[tuple[Script, Sequence[Any]]], then: Sequence[Command] = ()
) -> list[Any]:
    """Several calls (a script, and its `argv`) by their SHAs in one round trip, followed by
    the commands `then` (a WAIT for replicas, say). Calls a Redis that had forgotten their
    script answered NOSCRIPT go again with the script's text, followed by `then` again, in a
    second round trip. Returns each call's answer, then those of the last `then`: an answer
    may be the error Redis gave it."""
    answers = send([("EVALSHA", s.sha, *argv) for s, argv in calls] + list(then))
    missing = [i for i in range(len(calls)) if isinstance(answers[i], NoScriptError)]
    if missing:
        again = send([("EVAL", calls[i][0].source, *calls[i][1]) for i in missing] + list(then))
        for i, answer in zip(missing, again, strict=False):
            answers[i] = answer
        answers[len(calls) :] = again[len(missing) :]
    return answers


def pipelined(client: redis.Redis) -> Send:
    """A Send for run_batch through a pipeline of `client`'s (no transaction)."""

    def send(commands: Sequence[Command]) -> list[Any]:
        with client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
            return list(pipe.execute(raise_on_error=False))

    return send


def raise_errors(answers: Sequence[Any]) -> None:
    """Raise the first error among run_batch's answers, as a pipeline would."""
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer


@cache
def load(name: str) -> Script:
    """The script records/lua/<name>.lua (e.g. "lanes/append"), its includes in place."""
    keys, args = header_names(read(f"{name}.lua"), name)
    return Script(name, _resolve(f"{name}.lua", set(), ()), keys, args)


def names() -> list[str]:
    """Every script's name, lib/'s shared parts aside."""
    root = _root()
    return sorted(
        path.removesuffix(".lua")
        for path in _walk(root, "")
        if path.endswith(".lua") and not path.startswith(f"{_LIB}/")
    )


def libraries() -> list[str]:
    """Every shared part's file, as an include names it (e.g. "lib/fleet_ask.lua")."""
    return sorted(p for p in _walk(_root(), "") if p.startswith(f"{_LIB}/") and p.endswith(".lua"))


def read(path: str) -> str:
    """One file under records/lua/ as it is written (e.g. "lanes/append.lua")."""
    try:
        return _root().joinpath(*path.split("/")).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"no records/lua/{path}") from None


def header_lines(text: str) -> list[str]:
    """The file's header: the comment lines it opens with."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return lines


def header_names(text: str, name: str) -> tuple[list[str], list[str]]:
    """The KEYS and ARGV names a script's header lists, in order."""
    found: dict[str, list[str]] = {}
    side = None
    for line in header_lines(text):
        match = _NAMES.match(line)
        if match:
            side, rest = match[1], match[2]
            if side in found:
                raise ScriptError(f"{name}: {side} listed twice")
            found[side] = []
        elif side is not None:
            rest = line[2:]  # a list going on from the line before
        else:
            continue
        found[side] += [n.strip() for n in rest.split(",") if n.strip()]
        if not rest.rstrip().endswith(","):
            side = None
    for side in _SIDES:
        if side not in found:
            raise ScriptError(f"{name}: the header lists no {side}")
        _check_names(name, side, found[side])
    every = [n.removesuffix("...") for side in _SIDES for n in found[side]]
    if len(set(every)) != len(every):
        raise ScriptError(f"{name}: a name used twice in {every}")
    return found["KEYS"], found["ARGV"]


def _check_names(script: str, side: str, names: list[str]) -> None:
    listed = False
    for name in names:
        if not _NAME.match(name):
            raise ScriptError(f"{script} {side}: {name!r} is not a name")
        if listed and not name.endswith("..."):
            raise ScriptError(f"{script} {side}: {name} after a list")
        listed = listed or name.endswith("...")


def _resolve(path: str, seen: set[str], within: tuple[str, ...]) -> str:
    """`path`'s text with every include replaced by the text it names, each file once."""
    if path in within:
        raise ScriptError(f"records/lua/{path} includes itself: {' -> '.join((*within, path))}")
    seen.add(path)
    lines = []
    for line in read(path).splitlines():
        match = _INCLUDE.match(line)
        if match is None:
            lines.append(line)
        elif match[1] not in seen or match[1] in within:
            lines.append(_resolve(match[1], seen, (*within, path)))
    return "\n".join(lines) + "\n"


def _root() -> Traversable:
    return files("records").joinpath("lua")


def _walk(folder: Traversable, prefix: str) -> Iterator[str]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}"
