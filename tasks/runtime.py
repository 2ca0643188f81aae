"""What the tasks need at run time, set once by the worker's composition root."""

from __future__ import annotations

import threading

from tasks.policy import Policy
from tasks.settings import WorkerSettings
from telnyx_api.client import TelnyxClient


class Runtime:
    """Settings, policy and one Telnyx client per process (built lazily: safe across fork)."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.policy = Policy(
            recording_format=settings.recording_format,
            recording_channels=settings.recording_channels,
            announce_voice=settings.announce_voice,
            announce_language=settings.announce_language,
            announce_template=settings.announce_template,
            announce_fallback=settings.announce_fallback,
        )
        self._client: TelnyxClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> TelnyxClient:
        with self._lock:
            if self._client is None:
                self._client = TelnyxClient(
                    self.settings.telnyx_api_key.get_secret_value(),
                    base_url=self.settings.telnyx_api_base_url,
                    timeout=self.settings.telnyx_api_timeout_seconds,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


_current: Runtime | None = None


def configure(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("tasks.runtime.configure() was not called (see workers.app)")
    return _current
