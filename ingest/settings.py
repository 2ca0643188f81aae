"""The web process's configuration."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from core.settings import CommonSettings
from records.publishing.publisher import DEFAULT_CONNECTIONS

DEFAULT_MAX_BODY_BYTES = 256 * 1024


class WebSettings(CommonSettings):
    # One or more base64 Ed25519 public keys, comma-separated: several during a key rotation.
    telnyx_public_key: Annotated[str, Field(min_length=1, max_length=4096)]
    webhook_tolerance_seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    webhook_max_body_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = (
        DEFAULT_MAX_BODY_BYTES
    )
    # How long a delivered event id is remembered (its seen record, records/once.py), so a
    # redelivery is not queued again. It protects against Telnyx's duplicate webhooks and its
    # redeliveries of an event we answered too late; Telnyx publishes no bound on how late
    # those come (in practice within minutes), so the default keeps two days. Shorter: a
    # redelivery after it is queued again, and only the done records (ACTION_DONE_TTL_SECONDS)
    # keep its follow-ups from running twice.
    webhook_dedupe_ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 48 * 3600
    # When set, GET /metrics wants "Authorization: Bearer <this>".
    metrics_token: SecretStr | None = None
    # How long a request may wait on Redis before answering 503.
    redis_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 1.0
    # Redis connections each web worker process opens at most, shared by all its requests.
    web_redis_connections: Annotated[int, Field(ge=1, le=256)] = DEFAULT_CONNECTIONS

    @field_validator("telnyx_public_key")
    @classmethod
    def _keys_decode(cls, value: str) -> str:
        keys = public_keys(value)
        if not keys:
            raise ValueError("must hold at least one key")
        for position, key in enumerate(keys, 1):
            try:
                raw = base64.b64decode(key, validate=True)
            except binascii.Error:
                raise ValueError(f"key {position} is not valid base64") from None
            if len(raw) != 32:
                raise ValueError(f"key {position} is {len(raw)} bytes, not 32")
        return value

    @property
    def public_keys(self) -> list[str]:
        return public_keys(self.telnyx_public_key)


def public_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]
