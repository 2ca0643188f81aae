"""The packages depend on each other one way: ingest -> shared core <- workers.

core        <- followups, records, tasks, ingest, workers
followups   (the domain: what an event calls for) imports no Celery and no Redis
records     (the Redis-backed records) knows nothing of Celery tasks or processes
tasks       (thin Celery tasks) is the workers' alone: the web process never imports it
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> packages of ours it must not import
FORBIDDEN = {
    "core": {"followups", "records", "tasks", "ingest", "workers", "sandbox"},
    "followups": {"records", "tasks", "ingest", "workers", "sandbox"},
    "records": {"followups", "tasks", "ingest", "workers", "sandbox"},
    "tasks": {"ingest", "workers", "sandbox"},
    "ingest": {"tasks", "workers", "sandbox"},
    "telnyx_api": {"core", "followups", "records", "tasks", "ingest", "workers", "sandbox"},
}
# testkit, the scaffolding of the tests, benchmarks and demo, is not installed: nothing that is
# may import it.
INSTALLED = ("core", "followups", "records", "tasks", "ingest", "workers", "telnyx_api", "sandbox")
for _installed in INSTALLED:
    FORBIDDEN.setdefault(_installed, set()).add("testkit")


def imported_packages(package: str) -> dict[str, set[str]]:
    """module path -> top-level packages it imports."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str) -> None:
    wrong = {
        module: sorted(names & FORBIDDEN[package])
        for module, names in imported_packages(package).items()
        if names & FORBIDDEN[package]
    }
    assert wrong == {}


def test_the_domain_loads_without_celery_or_redis() -> None:
    probe = (
        "import sys, followups.policy, followups.rules, followups.announcement; "
        "print(sorted(m for m in ('celery', 'kombu', 'redis') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
