from __future__ import annotations

import redis

from records.fleet import Fleet, Ticket
from records.metrics import Metrics, field, latency_fields


def test_series_names_carry_sorted_escaped_labels() -> None:
    assert field("x_total") == "x_total"
    assert field("x_total", {"b": "2", "a": 'q"uote'}) == 'x_total{a="q\\"uote",b="2"}'


def test_a_latency_lands_in_every_bucket_at_or_above_it() -> None:
    fields = latency_fields(0.3)
    assert 'telnyx_action_latency_seconds_bucket{le="0.25"}' not in fields
    assert 'telnyx_action_latency_seconds_bucket{le="0.5"}' in fields
    assert 'telnyx_action_latency_seconds_bucket{le="+Inf"}' in fields
    assert "telnyx_action_latency_seconds_count" in fields


def test_render_is_prometheus_text(redis_client: redis.Redis) -> None:
    metrics = Metrics(redis_client)
    metrics.incr("telnyx_webhooks_enqueued_total", amount=3)
    metrics.incr("telnyx_webhooks_rejected_total", {"reason": "invalid_signature"})
    metrics.incr("telnyx_actions_total", {"action": "conference.speak", "outcome": "sent"})
    metrics.observe_latency(0.02)
    metrics.observe_latency(2.0)
    page = metrics.render(queue_depth=7)
    assert "# TYPE telnyx_actions_total counter" in page
    assert 'telnyx_actions_total{action="conference.speak",outcome="sent"} 1' in page
    assert "telnyx_webhooks_received_total 4" in page
    assert "telnyx_queue_depth 7" in page
    assert "telnyx_webhooks_duplicate_total 0" in page
    histogram = [
        line for line in page.splitlines() if line.startswith("telnyx_action_latency_seconds")
    ]
    assert histogram[0] == 'telnyx_action_latency_seconds_bucket{le="0.01"} 0' or histogram[
        0
    ].startswith('telnyx_action_latency_seconds_bucket{le="0.025"}')
    assert 'telnyx_action_latency_seconds_bucket{le="+Inf"} 2' in histogram
    assert histogram[-2] == "telnyx_action_latency_seconds_sum 2.02"
    assert histogram[-1] == "telnyx_action_latency_seconds_count 2"


def test_the_fleet_s_pace_is_shown_by_priority(redis_client: redis.Redis) -> None:
    fleet, at = Fleet(redis_client, start_per_second=1), 1_800_000_000.0
    assert fleet.ask("w", None, at).now
    assert not fleet.ask("w", Ticket("speak"), at + 0.1).now
    assert not fleet.ask("w", Ticket("record", first=True), at + 0.2).now
    assert fleet.ask("w", Ticket("record", first=True), at + 1.2).now
    page = Metrics(redis_client).render(
        queue_depth=0, fleet={"limit": "20", "window": "1000", "sent": "1", "waiting_normal": "1"}
    )
    assert "telnyx_pace_limit 20" in page
    assert "telnyx_pace_sent_in_window 1" in page
    assert 'telnyx_pace_waiting{priority="normal"} 1' in page
    assert 'telnyx_pace_waiting{priority="first"} 0' in page
    assert 'telnyx_pace_waits_total{priority="first"} 1' in page
    assert 'telnyx_pace_wait_seconds_total{priority="first"} 1\n' in page
    assert "# TYPE telnyx_pace_waits_total counter" in page
