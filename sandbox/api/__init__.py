"""A local Telnyx-compatible API server for development, tests and benchmarks.

It serves the conference and queue endpoints on loopback, checks the bearer key and the
required fields like the real API (422 with a Telnyx-style error body), keeps a little state
(conferences created through it; conferences marked ended answer 422 90019), records every
request, and injects faults on demand: latency, 5xx, 429 and timeouts, either for the next N
requests or at random rates.

Its field checks are deliberately its own table, not the client's models: a test against this
server checks the client, rather than the client against itself.

    state       FakeTelnyx: conferences, participants, recorded requests, the rate limit
    checks      the request bodies it accepts, field by field
    resources   the conference and participant objects, and how lists of them are paged
    recorded    RecordedRequest: one request as the server saw and answered it
    ratelimit   the account's rate limit: its windows and the headers that tell it
    faults      injected failures, and the body that asks for them
    controls    the loopback-only /_sandbox/ controls
    errors      Telnyx's error body
    http        the HTTP server around it: FakeTelnyxServer, and `python -m sandbox.api`
"""
