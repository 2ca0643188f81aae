"""`python -m workers.flower`: Flower for operators, on $PORT, with basic auth required.

FLOWER_BASIC_AUTH holds `user:password` (several, comma-separated); Flower reads it from the
environment, so the password is not on the command line. Without it Flower does not start,
unless FLOWER_UNAUTHENTICATED=allow says it is on a developer's machine.
"""

from __future__ import annotations

import os
import shutil
import sys


def auth_problem(value: str) -> str | None:
    pairs = [pair.strip() for pair in value.split(",") if pair.strip()]
    if not pairs:
        return (
            "FLOWER_BASIC_AUTH is required (user:password), "
            "or set FLOWER_UNAUTHENTICATED=allow for local use"
        )
    for pair in pairs:
        user, _, password = pair.partition(":")
        if not user or len(password) < 8:
            return (
                "FLOWER_BASIC_AUTH must be user:password pairs, passwords of 8 characters or more"
            )
    return None


def unauthenticated_allowed() -> bool:
    """FLOWER_UNAUTHENTICATED=allow: a developer's machine, where Flower may run without auth."""
    return os.environ.get("FLOWER_UNAUTHENTICATED", "").lower() == "allow"


def configured_auth_problem() -> str | None:
    """What is wrong with FLOWER_BASIC_AUTH as set in the environment, if anything."""
    return auth_problem(os.environ.get("FLOWER_BASIC_AUTH", ""))


def main() -> int:  # noqa: RET503 - the last line, os.execv, does not return
    if not unauthenticated_allowed():
        problem = configured_auth_problem()
        if problem:
            print(f"flower: {problem}", file=sys.stderr)
            return 2
    celery = shutil.which("celery") or "celery"
    port = os.environ.get("PORT", "5555")
    # Replace this process, so the platform's signals reach Flower itself.
    command = [celery, "-A", "workers.monitor", "flower", f"--port={port}", "--address=0.0.0.0"]
    os.execv(celery, command)  # noqa: S606 - our own fixed command line, no shell


if __name__ == "__main__":
    sys.exit(main())
