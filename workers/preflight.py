"""`conference-worker check`: the worker's part of the release check (see records/preflight.py)."""

from __future__ import annotations

import os

from core.settings import WorkerSettings
from followups.rules import RulesError, load_rules
from records.preflight import Finding, redis_findings, settings_finding
from workers.flower import configured_auth_problem, unauthenticated_allowed


def check(*, flower: bool = False) -> list[Finding]:
    """Worker settings, the rules file, Flower's auth if asked, then Redis and its durability."""
    findings = [settings_finding("worker settings", WorkerSettings), _rules()]
    if flower:
        findings.append(_flower())
    return [*findings, *redis_findings()]


def _rules() -> Finding:
    # Read on its own: a rules file is worth checking even when another variable is wrong.
    path = os.environ.get("RULES_FILE")
    if not path:
        return Finding("ok", "rules", "none set: record on create, announce joins")
    try:
        rules = load_rules(path)
    except RulesError as exc:
        return Finding("error", "rules", str(exc))
    return Finding("ok", "rules", f"{len(rules)} rule(s) from {path}")


def _flower() -> Finding:
    if unauthenticated_allowed():
        return Finding("warning", "flower", "runs without authentication (FLOWER_UNAUTHENTICATED)")
    problem = configured_auth_problem()
    return (
        Finding("error", "flower", problem)
        if problem
        else Finding("ok", "flower", "basic auth set")
    )
