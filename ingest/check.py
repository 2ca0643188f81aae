"""`python -m ingest.check`: the web's part of the release check (see records/preflight.py).

Exits 1 when the web settings are invalid or Redis does not answer.
"""

from __future__ import annotations

import sys

from ingest.settings import WebSettings
from records.preflight import Finding, redis_findings, report, settings_finding


def check() -> list[Finding]:
    # Redis's durability is the worker check's to report; once per release is enough.
    return [settings_finding("web settings", WebSettings), *redis_findings(durability=False)]


if __name__ == "__main__":
    sys.exit(report(check(), sys.stdout))
