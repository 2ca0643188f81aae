"""How `pytest -n N` spreads the suite over test processes (pytest-xdist).

Each test goes wherever a process is free, except the modules below: their tests share
something started once for the module, or a resource only one test may hold at a time, so each
of them runs on one test process, in order. (xdist's own `xdist_group` mark cannot do this
under pytest 9.2, whose node ids it can no longer rewrite.)
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

ONE_PROCESS = {
    "tests/deploy/test_container.py": "the image, built once under one tag and removed after",
    "tests/deploy/test_production_install.py": "a production install, built once",
    "tests/integration/test_redis_tls.py": "a TLS Redis and its processes, started once",
    "tests/integration/test_flower.py": "Flower, started once",
    "tests/integration/test_rules_worker.py": "a worker with its rules, started once",
    "tests/integration/test_action_tasks.py": "its worker, started once",
    "tests/integration/test_acceptance.py": "its deployment, started once",
    "tests/sandbox/test_cli.py": "the sandbox's processes, started once",
    "tests/sandbox/test_by_hand.py": "a Redis on 6379, the README's port, held by one test",
    "tests/faults/test_fleet_limits.py": "clusters at full tilt on a rate limit, one at a time",
}


# Modules run on one test process together: each starts Sentinels and fails Redis over, on
# timings (a Sentinel's 1 s down-after) that two of them at once on two cores can upset.
TOGETHER = {
    "sentinels": (
        "tests/integration/test_sentinel.py",
        "tests/faults/test_failover.py",
        "tests/faults/test_failover_restart.py",
    ),
}


class OneProcessModules(LoadScopeScheduling):
    """xdist's load balancing, each test its own unit, but a module of ONE_PROCESS one unit,
    and the modules of a TOGETHER group one unit."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        for group, modules in TOGETHER.items():
            if module in modules:
                return group
        return module if module in ONE_PROCESS else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> OneProcessModules | None:
    # (Only for the default distribution, `-n N` alone; an explicit --dist keeps its meaning.)
    if config.getvalue("dist") != "load":
        return None
    return OneProcessModules(config, log)
