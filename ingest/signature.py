"""Ed25519 verification of Telnyx webhooks, on the raw body, before anything is parsed.

Telnyx signs the bytes `timestamp + b"|" + body` with the account's key and sends the base64
signature in `telnyx-signature-ed25519` and the Unix timestamp in `telnyx-timestamp`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Sequence

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# base64 of a 64-byte signature is 88 characters; anything much longer is not a signature.
MAX_SIGNATURE_HEADER = 128
MAX_TIMESTAMP_HEADER = 16


class SignatureError(Exception):
    """The delivery is not verifiably from Telnyx. `reason` is a short machine-readable code."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class WebhookVerifier:
    """Verifies deliveries against one or more public keys (several during a rotation)."""

    def __init__(
        self,
        public_keys: Sequence[str],
        tolerance_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Keys are decoded once, at start-up; a bad key is a configuration error, not a 401.
        self._keys = [VerifyKey(base64.b64decode(key, validate=True)) for key in public_keys]
        if not self._keys:
            raise ValueError("at least one public key is required")
        self._tolerance = tolerance_seconds
        self._clock = clock

    def verify(self, body: bytes, signature: str | None, timestamp: str | None) -> None:
        """Return if the delivery is authentic and fresh; raise SignatureError otherwise."""
        if not signature:
            raise SignatureError("missing_signature")
        if not timestamp:
            raise SignatureError("missing_timestamp")
        sent_at = self._parse_timestamp(timestamp)
        # Whole seconds, as every official SDK compares: exactly the tolerance still passes.
        if abs(int(self._clock()) - sent_at) > self._tolerance:
            raise SignatureError("timestamp_out_of_tolerance")
        raw_signature = self._decode_signature(signature)
        message = timestamp.encode("ascii") + b"|" + body
        for key in self._keys:
            try:
                key.verify(message, raw_signature)
            except BadSignatureError:
                continue
            return
        raise SignatureError("signature_mismatch")

    @staticmethod
    def _parse_timestamp(value: str) -> int:
        # Digits only: int() would also accept " 12", "+12", "1_2" and non-ASCII digits, and
        # the header's exact bytes are part of the signed message.
        if len(value) > MAX_TIMESTAMP_HEADER or not (value.isascii() and value.isdigit()):
            raise SignatureError("invalid_timestamp")
        return int(value)

    @staticmethod
    def _decode_signature(value: str) -> bytes:
        if len(value) > MAX_SIGNATURE_HEADER:
            raise SignatureError("invalid_signature_encoding")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("invalid_signature_encoding") from exc
        if len(raw) != 64:
            raise SignatureError("invalid_signature_length")
        return raw
