"""Telnyx's wire formats: a typed httpx client, request and response models, webhook events."""

from telnyx_api.client import EVERYONE, TelnyxClient
from telnyx_api.errors import APIError, TelnyxError

__all__ = ["EVERYONE", "APIError", "TelnyxClient", "TelnyxError"]
