"""The alerting rules and the dashboard in monitoring/: valid, over series /metrics serves, and
each alert shown firing on its fault and quiet on a healthy series (`promtool test rules`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from records.metrics import HELP

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed here"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROMTOOL), *args], cwd=MONITORING, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@needs_promtool
def test_the_rules_are_valid() -> None:
    result = _promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@needs_promtool
def test_each_alert_fires_on_its_fault_and_stays_quiet_when_healthy() -> None:
    result = _promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _metrics_in(expression: str) -> set[str]:
    names = set(re.findall(r"\b(telnyx_[a-z_]+)", expression))
    # A histogram's series are its name with _bucket, _sum or _count.
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_every_alert_is_tested_and_reads_series_that_exist() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((MONITORING / "alerts.test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case["alert_rule_test"]}
    assert {r["alert"] for r in rules} == tested
    for rule in rules:
        assert _metrics_in(rule["expr"]) <= set(HELP), rule["alert"]
        assert rule["annotations"]["summary"]


def test_the_dashboard_shows_the_same_series() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set().union(*map(_metrics_in, exprs))
    assert used <= set(HELP)
    # Everything an alert watches has a panel
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    watched = set().union(*(_metrics_in(r["expr"]) for r in rules))
    assert watched <= used
