"""The web process: verifies Telnyx webhooks and queues them for the workers."""

from ingest.app import create_app

__all__ = ["create_app"]
