"""Signing webhooks the way Telnyx does, with a local key pair: for the demo, tests and tools."""

from __future__ import annotations

import base64
import time

from nacl.signing import SigningKey


class WebhookSigner:
    def __init__(self, seed: bytes | None = None) -> None:
        self._key = SigningKey(seed) if seed is not None else SigningKey.generate()

    @property
    def public_key(self) -> str:
        """Base64 of the raw 32-byte public key, as TELNYX_PUBLIC_KEY takes it."""
        return base64.b64encode(bytes(self._key.verify_key)).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The two headers Telnyx sends with `body`."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._key.sign(ts.encode() + b"|" + body).signature
        return {
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": ts,
            "content-type": "application/json",
        }
