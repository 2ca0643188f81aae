"""What Telnyx's "Command Retries" page for Programmable Voice asks of a command's send, beyond
the send itself: "if your application receives a 500 error, immediately retry the command",
and "if your application fails to receive a HTTP response from Telnyx within 500ms, send an
identical command" (a hedge: telnyx_api/hedging.py).

Both repeat the command's `command_id`, which Telnyx ignores for 60 s, so both are only for
commands that carry one (not hold, unhold, mute, unmute, play, stop: a repeat of those could
act twice). Each extra request takes a token of the fleet's pace, as any request does, and
none goes while the fleet's circuit is open. Every request of a send, extra ones included,
leaves before the send's leaving deadline (telnyx_api/deadlines.py): inside the command_id
window of the lane's first send whose outcome is unknown. With a hedge out, whichever answer
comes first speaks for one request only: the outcome counts as unknown unless the command was
accepted (telnyx_api/transport.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis

from records.fleet import Clearance, Fleet
from records.metrics import Metrics
from tasks import limits
from telnyx_api.errors import ServerError
from telnyx_api.hedging import HedgeReport, Hedging

log = logging.getLogger(__name__)

_SAID = {
    "hedge_won": "the identical command sent again answered first",
    "first_won": "the first answer came before the identical command's",
    "both_failed": "neither the command nor the identical one sent again answered",
    "not_sent": "the pace allowed no identical command before the answer came",
}


@dataclass
class CommandRetries:
    """The hedge and the immediate retry of one command's send, for the run `owner`; after it,
    `hedged` says how its hedge ended, if one was due (for Flower's result)."""

    fleet: Fleet
    metrics: Metrics
    owner: str
    where: str
    hedge_after: float  # seconds; 0: no hedge
    hedged: str | None = field(default=None, init=False)

    def hedging(self) -> Hedging | None:
        if self.hedge_after <= 0:
            return None
        return Hedging(self.hedge_after, self._clearance, self._hedged)

    def again_now(self, exc: ServerError) -> bool:
        """After a 5xx: the fleet told of it, whether the command may go again at once."""
        try:
            limits.tell(self.fleet, self.owner, exc)
            return self.fleet.ask(self.owner).now
        except redis.RedisError:
            return False  # (the usual retry, after its backoff, then)

    def _clearance(self) -> float | None:
        """Whether the hedge may go now (0), in how long to ask again, or never (None)."""
        try:
            go = self.fleet.ask(self.owner)
        except redis.RedisError:
            return None  # (no hedge without the pace's word; the command itself goes on)
        if go.now:
            return 0.0
        return None if go.why is Clearance.OPEN else go.wait

    def _hedged(self, report: HedgeReport) -> None:
        self.hedged = report.outcome
        log.warning(
            "%s: no answer in %.1fs: %s (request ids: first %s, identical %s)",
            self.where, self.hedge_after, _SAID[report.outcome],
            report.first_request_id or "-", report.hedge_request_id or "-",
        )  # fmt: skip
        try:
            self.metrics.incr("telnyx_command_hedges_total", {"outcome": report.outcome})
        except redis.RedisError:
            log.warning("%s: the hedge's count was not recorded (Redis unreachable)", self.where)
