"""The shared core: configuration, names and logging used by the web process, the workers and
their tools alike. Free of Celery; nothing here talks to Redis."""
