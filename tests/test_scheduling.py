"""The suite's spread over test processes names modules that exist (a renamed module would
otherwise quietly lose its one process)."""

from __future__ import annotations

from pathlib import Path

from tests.scheduling import ONE_PROCESS, TOGETHER, OneProcessModules

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_kept_on_one_process_exists() -> None:
    together = [module for modules in TOGETHER.values() for module in modules]
    missing = [module for module in [*ONE_PROCESS, *together] if not (ROOT / module).is_file()]
    assert not missing


def test_a_listed_module_is_one_unit_and_any_other_test_its_own() -> None:
    split = OneProcessModules._split_scope
    assert split(None, "tests/deploy/test_container.py::test_a") == "tests/deploy/test_container.py"
    assert (
        split(None, "tests/core/test_settings.py::test_a") == "tests/core/test_settings.py::test_a"
    )
    assert split(None, "tests/faults/test_failover.py::test_a") == "sentinels"
    assert split(None, "tests/integration/test_sentinel.py::test_b") == "sentinels"
