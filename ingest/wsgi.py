"""The WSGI entry point for gunicorn: `gunicorn ingest.wsgi:app`."""

from core import logs
from core.settings import load_settings
from ingest.app import create_app
from ingest.settings import WebSettings

settings = load_settings(WebSettings)
logs.configure(settings.log_format)
app = create_app(settings)
