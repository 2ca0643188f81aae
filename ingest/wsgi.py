"""The WSGI entry point for gunicorn: `gunicorn ingest.wsgi:app`."""

from ingest.app import create_app
from ingest.settings import WebSettings
from tasks import logs
from tasks.settings import load_settings

settings = load_settings(WebSettings)
logs.configure(settings.log_format)
app = create_app(settings)
