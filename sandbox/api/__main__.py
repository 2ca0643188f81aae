"""`python -m sandbox.api`: the local Telnyx-compatible API on its own (as `telnyx-sandbox api`)."""

from sandbox.api.http import main

raise SystemExit(main())
