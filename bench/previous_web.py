"""gunicorn settings of the web line before gunicorn.conf.py, for the ingest benchmark's
comparison: sync worker processes, no access log.

    gunicorn --config python:bench.previous_web ingest.wsgi:app
"""

import os

bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 25
graceful_timeout = 20
keepalive = 5
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
