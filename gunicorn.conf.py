"""gunicorn's settings for the web process (the Procfile's `web` line reads this file).

Every setting here is read from the environment or fixed for a reason given beside it; the
limits on requests are part of the service's input bounds (README, "Security").
"""

import logging
import os
from typing import Any

# gevent first, before anything below (or the preloaded app) creates a socket, lock or thread:
# every connection is a greenlet, so a client that trickles its headers or body a byte at a
# time ties up a few KB of memory, not a process or a thread, and webhooks from Telnyx are
# still answered within its 2 s. Patching here, in the master, means the preloaded app's locks
# and queues are gevent's too.
worker_class = "gevent"
from gevent import monkey  # noqa: E402 - must follow the decision above, and precede the rest

monkey.patch_all()

from gevent import Timeout  # noqa: E402 - after the patching, like everything that follows
from werkzeug.exceptions import RequestTimeout  # noqa: E402

# Both IPv6 and IPv4 (a dual-stack socket), on the port the platform gives.
bind = [f"[::]:{os.environ.get('PORT', '8000')}"]
# Worker processes; the platform (or the operator) sets WEB_CONCURRENCY for the dyno's size.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Connections one worker process holds open at once, stalled ones included; past it, new
# connections wait in the kernel's backlog.
worker_connections = int(os.environ.get("WEB_MAX_CONNECTIONS", "1000"))

# Each worker process listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections across them. On one shared socket, a router's or a load generator's kept-alive
# connections tend to land on whichever worker accepts first: one process saturates while
# the other idles (measured: ack p99 over 200 ms at half capacity, against 10 ms here).
reuse_port = True


def on_starting(server: Any) -> None:
    """With reuse_port the master holds no socket (each worker opens its own), so gunicorn's
    "Listening at:" line would name none: give it the addresses bound."""
    addresses = ",".join(f"http://{address}" for address in server.cfg.bind)

    def fill_in(record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg == "Listening at: %s (%s)" and isinstance(args, tuple) and not args[0]:
            record.args = (addresses, *args[1:])
        return True

    server.log.error_log.addFilter(fill_in)


# Load the app once in the master: a bad setting stops the process at once with its name
# (rather than every worker failing to boot), and workers share the loaded code's memory.
preload_app = True

# A worker that stops reporting for this long is restarted (with gevent this is a heartbeat,
# not a request time limit).
timeout = 20
# On SIGTERM, requests in flight get this long: under the 30 s a platform waits before its
# SIGKILL (Heroku's shutdown window; docker-compose.yml's stop_grace_period is set to match).
graceful_timeout = 20
# Idle keep-alive connections stay open longer than a router's own idle timeout (90 s on
# Heroku), so closing one is always the router's move and never races a request it is sending.
# With gevent this also bounds how long a request's line and headers may take to arrive.
keepalive = 95

# A request must have arrived, body included, and been answered within this long; past it the
# answer is 408 (JSON, from the app) and the connection closes. The request line and headers
# are bounded by `keepalive` below; this bounds a body trickled a byte at a time, which would
# otherwise hold its connection (one of `worker_connections`) for as long as the client likes.
request_deadline = float(os.environ.get("WEB_REQUEST_DEADLINE_SECONDS", "30"))


def pre_request(worker: Any, req: Any) -> None:
    deadline = Timeout(
        request_deadline,
        RequestTimeout(f"the request was not received within {request_deadline:g} s"),
    )
    deadline.start()
    req.deadline = deadline


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    deadline = getattr(req, "deadline", None)
    if deadline is not None:
        deadline.close()


# Bounds on what a client may send before the app sees it (the app bounds the body).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# One access log line per request on stdout, with the router's request id (Heroku and most
# routers set X-Request-Id), so a delivery can be followed from the router into our logs.
accesslog = "-"
access_log_format = (
    'gunicorn method=%(m)s path="%(U)s" status=%(s)s duration=%(M)sms '
    'request_id=%({x-request-id}i)s fwd="%({x-forwarded-for}i)s" user_agent="%(a)s"'
)

# No control socket: nothing here uses `gunicornc`, and several servers on one host (or a
# read-only home directory in a container) would otherwise contend for its one path.
control_socket_disable = True
