"""Telnyx's limits, kept for the whole fleet in Redis: one pace for every worker's commands, and
one circuit for outages.

The pace follows what Telnyx says on every answer: `x-ratelimit-limit` commands per window,
`x-ratelimit-remaining` left in it, `x-ratelimit-reset` seconds until it renews. Each command
takes one of the remaining before it is sent (counting those in flight, which Telnyx has not
answered yet); with none left, every worker waits for the window's end. A 429 stops the fleet
until its Retry-After or reset. TELNYX_MAX_COMMANDS_PER_SECOND caps it further.

The circuit opens when Telnyx fails CIRCUIT_FAILURES times in a row (5xx, timeouts, connection
errors: not 4xx, which are the caller's). While open, nothing is sent but one probe at a time,
at growing intervals (1 s doubling to 30 s); the first answer closes it.

Soft state only: losing it (a restart, a failover, a flush) loses no action, only what was
learned, which the next answers teach again. Key: `tcw:fleet` (hash), `tcw:fleet:probe`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from core.naming import KEY_PREFIX
from records.metrics import METRICS
from records.replies import text

FLEET = f"{KEY_PREFIX}fleet"
PROBE = f"{KEY_PREFIX}fleet:probe"
# Failures in a row that open the circuit.
CIRCUIT_FAILURES = 5
# The first probe after opening, and the longest interval between probes (ms).
FIRST_PROBE_MS = 1000
LONGEST_PROBE_MS = 30000
# What the fleet's state expires after when nothing uses it.
TTL_SECONDS = 3600

# The fleet's two steps are Lua functions, run by the scripts below and also inside the lane
# scripts (records/lanes.py), so that a lane's command asks the fleet in the round trip that
# fixes it and tells it in the one that finishes it.

# f: the fleet hash, probe_key: the probe lease, now (ms), owner, cap a second ('' none), probe
# lease ms, ttl s. Returns {wait ms, why}: 0 and 'go' or 'probe' (this one may go), else how
# long to wait and why ('open', 'paced', 'capped').
ASK_FUNCTION = """
local function fleet_ask(f, probe_key, now, owner, cap, probe_ms, ttl)
  local state = redis.call('HGET', f, 'state')
  local probe = 0
  if state == 'open' then
    local at = tonumber(redis.call('HGET', f, 'probe_at') or '0')
    if now < at then return {at - now, 'open'} end
    if not redis.call('SET', probe_key, owner, 'NX', 'PX', probe_ms) then
      -- Another's probe is in flight: look again soon for what it learned.
      return {math.min(math.max(redis.call('PTTL', probe_key), 100), 1000), 'open'}
    end
    probe = 1
  end
  local until_ = tonumber(redis.call('HGET', f, 'until') or '0')
  if now < until_ then
    if probe == 1 then redis.call('DEL', probe_key) end
    return {until_ - now, 'paced'}
  end
  local limit = tonumber(redis.call('HGET', f, 'limit') or '0')
  if limit > 0 then
    local reset_at = tonumber(redis.call('HGET', f, 'reset_at') or '0')
    local remaining = tonumber(redis.call('HGET', f, 'remaining') or '0')
    if now >= reset_at then
      -- A new window, full again; it ends one window after the last known end.
      local window = tonumber(redis.call('HGET', f, 'window') or '1000')
      reset_at = reset_at + window * (math.floor((now - reset_at) / window) + 1)
      remaining = limit
    end
    if remaining <= 0 then
      redis.call('HSET', f, 'reset_at', reset_at, 'remaining', 0)
      if probe == 1 then redis.call('DEL', probe_key) end
      return {math.max(reset_at - now, 1), 'paced'}
    end
    redis.call('HSET', f, 'reset_at', reset_at, 'remaining', remaining - 1)
  end
  if cap ~= '' then
    local second = math.floor(now / 1000)
    if tonumber(redis.call('HGET', f, 'cap_second') or '-1') ~= second then
      redis.call('HSET', f, 'cap_second', second, 'cap_used', 0)
    end
    if tonumber(redis.call('HGET', f, 'cap_used')) >= tonumber(cap) then
      if probe == 1 then redis.call('DEL', probe_key) end
      return {(second + 1) * 1000 - now, 'capped'}
    end
    redis.call('HINCRBY', f, 'cap_used', 1)
  end
  redis.call('EXPIRE', f, ttl)
  if probe == 1 then return {0, 'probe'} end
  return {0, 'go'}
end
"""
_ASK = ASK_FUNCTION + (
    "return fleet_ask(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5])"
)

# f, probe_key, metrics: the fleet hash, the probe lease, the metrics hash; now (ms), outcome
# (answered, limited, failed), limit, remaining, reset s, retry-after s ('' where Telnyx said
# nothing), owner, ttl s. Returns 'opened' or 'closed' when the circuit changed, else ''.
TELL_FUNCTION = (
    """
local function fleet_tell(f, probe_key, metrics, now, outcome, limit, remaining, reset,
                          retry_after, owner, ttl)
  if limit ~= '' and reset ~= '' then
    local limit_n, reset_at = tonumber(limit), now + math.floor(tonumber(reset) * 1000)
    local remaining_n = tonumber(remaining ~= '' and remaining or limit)
    local known_end = tonumber(redis.call('HGET', f, 'reset_at') or '0')
    -- (An answer from a window already over, still in flight at its end, says nothing of this one.)
    if reset_at >= known_end - 250 then
      if math.abs(known_end - reset_at) < 250 then
        -- The window we count in: Telnyx's count is the truth, ours also holds those in flight.
        local counted = tonumber(redis.call('HGET', f, 'remaining') or remaining_n)
        remaining_n = math.min(remaining_n, counted)
        reset_at = known_end
      end
      local window = math.max(tonumber(redis.call('HGET', f, 'window') or '0'), reset_at - now)
      redis.call('HSET', f, 'limit', limit_n, 'remaining', remaining_n, 'reset_at', reset_at,
                 'window', math.max(window, 1000))
    end
  end
  if outcome == 'limited' then
    local wait = math.max(tonumber(retry_after ~= '' and retry_after or '0'),
                          tonumber(reset ~= '' and reset or '0'), 1)
    redis.call('HSET', f, 'until', now + math.floor(wait * 1000), 'remaining', 0)
    redis.call('HINCRBY', metrics, 'telnyx_rate_limited_total', 1)
  end
  local state = redis.call('HGET', f, 'state')
  local changed = ''
  if outcome == 'failed' then
    if state == 'open' then
      -- Only the probe's failure puts the next probe off (not those in flight when it opened).
      if redis.call('GET', probe_key) ~= owner then return '' end
      local interval = tonumber(redis.call('HGET', f, 'interval') or '1000') * 2
      interval = math.min(interval, LONGEST)
      redis.call('HSET', f, 'interval', interval, 'probe_at', now + interval)
    else
      local run = redis.call('HINCRBY', f, 'failures', 1)
      if run >= FAILURES then
        redis.call('HSET', f, 'state', 'open', 'opened_at', now, 'interval', FIRST,
                   'probe_at', now + FIRST)
        redis.call('HINCRBY', metrics, 'telnyx_circuit_opened_total', 1)
        changed = 'opened'
      end
    end
  else
    if state == 'open' then
      local opened = tonumber(redis.call('HGET', f, 'opened_at') or now)
      redis.call('HINCRBYFLOAT', metrics, 'telnyx_circuit_open_seconds_total',
                 (now - opened) / 1000)
      redis.call('HDEL', f, 'state', 'opened_at', 'interval', 'probe_at')
      changed = 'closed'
    end
    redis.call('HSET', f, 'failures', 0)
  end
  if redis.call('GET', probe_key) == owner then redis.call('DEL', probe_key) end
  redis.call('EXPIRE', f, ttl)
  return changed
end
""".replace("LONGEST", str(LONGEST_PROBE_MS))
    .replace("FAILURES", str(CIRCUIT_FAILURES))
    .replace("FIRST", str(FIRST_PROBE_MS))
)
_TELL = TELL_FUNCTION + (
    "return fleet_tell(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4],"
    " ARGV[5], ARGV[6], ARGV[7], ARGV[8])"
)


@dataclass(frozen=True)
class Go:
    """The answer to "may this command go now?": wait 0 (go, maybe as the circuit's probe), or
    how long to wait and why: open (Telnyx is down), paced (its rate limit), capped (ours)."""

    wait: float
    why: str

    @property
    def now(self) -> bool:
        return self.wait <= 0

    @classmethod
    def of(cls, wait_ms: object, why: object) -> Go:
        """From fleet_ask's answer."""
        return cls(int(wait_ms) / 1000, text(why))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Answer:
    """What Telnyx's answer to one command says for the fleet."""

    outcome: str  # answered (any status but 429 and 5xx), limited (429), failed (5xx, timeout)
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    retry_after: float | None = None


class Fleet:
    # The keys of fleet_ask and fleet_tell (the lane scripts pass them too, with ask_args and
    # tell_args).
    KEYS = (FLEET, PROBE)

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_per_second: int | None = None,
        probe_lease_seconds: float = 30.0,
    ) -> None:
        self._redis = client
        self._cap = max_per_second
        self._probe_ms = int(probe_lease_seconds * 1000)
        self._ask = client.register_script(_ASK)
        self._tell = client.register_script(_TELL)

    def ask(self, owner: str, now: float | None = None) -> Go:
        """Whether a command may go now, taking one of the remaining commands if so."""
        wait_ms, why = self._ask(keys=self.KEYS, args=self.ask_args(owner, now))
        return Go.of(wait_ms, why)

    def tell(self, owner: str, answer: Answer, now: float | None = None) -> str:
        """Learn from one answer; returns 'opened' or 'closed' when the circuit changed."""
        return text(self._tell(keys=[*self.KEYS, METRICS], args=self.tell_args(owner, answer, now)))

    def ask_args(self, owner: str, now: float | None = None) -> list[str | int | float]:
        """fleet_ask's arguments after the keys: now ms, owner, cap, probe lease ms, ttl."""
        return [_ms(now), owner, self._cap or "", self._probe_ms, TTL_SECONDS]

    def tell_args(
        self, owner: str, answer: Answer, now: float | None = None
    ) -> list[str | int | float]:
        """fleet_tell's arguments after the keys: now ms, outcome, limit, remaining, reset,
        retry-after, owner, ttl."""
        return [
            _ms(now),
            answer.outcome,
            _opt(answer.limit),
            _opt(answer.remaining),
            _opt(answer.reset),
            _opt(answer.retry_after),
            owner,
            TTL_SECONDS,
        ]


def _ms(now: float | None) -> int:
    return int((time.time() if now is None else now) * 1000)


def _opt(value: float | int | None) -> str | float | int:
    return "" if value is None else value
