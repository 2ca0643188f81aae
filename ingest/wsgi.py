"""The WSGI entry point for gunicorn: `gunicorn ingest.wsgi:app`."""

from ingest.app import create_app

app = create_app()
