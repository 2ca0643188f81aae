from __future__ import annotations

import base64

import pytest

from ingest.signature import SignatureError, WebhookVerifier
from sandbox.signer import WebhookSigner

NOW = 1_700_000_000
BODY = b'{"data":{"event_type":"conference.created","id":"e1","payload":{"conference_id":"c1"}}}'


@pytest.fixture
def signer() -> WebhookSigner:
    return WebhookSigner(bytes(range(32)))


@pytest.fixture
def verifier(signer: WebhookSigner) -> WebhookVerifier:
    return WebhookVerifier([signer.public_key], tolerance_seconds=300, clock=lambda: NOW)


def _parts(signer: WebhookSigner, body: bytes = BODY, ts: int = NOW) -> tuple[bytes, str, str]:
    headers = signer.headers(body, ts)
    return body, headers["telnyx-signature-ed25519"], headers["telnyx-timestamp"]


def test_a_fresh_signed_delivery_verifies(verifier: WebhookVerifier, signer: WebhookSigner) -> None:
    verifier.verify(*_parts(signer))


@pytest.mark.parametrize("offset", [-300, 300, 0, 299, -299])
def test_tolerance_edges_pass(
    signer: WebhookSigner, verifier: WebhookVerifier, offset: int
) -> None:
    verifier.verify(*_parts(signer, ts=NOW + offset))


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 10**9])
def test_outside_tolerance_fails(
    signer: WebhookSigner, verifier: WebhookVerifier, offset: int
) -> None:
    with pytest.raises(SignatureError) as caught:
        verifier.verify(*_parts(signer, ts=NOW + offset))
    assert caught.value.reason == "timestamp_out_of_tolerance"


def _flip(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


OTHER = WebhookSigner(bytes(range(1, 33)))

# One mutation a row: (name, function of (body, signature, timestamp) -> same, reason)
MUTATIONS = [
    ("missing signature", lambda b, s, t: (b, None, t), "missing_signature"),
    ("empty signature", lambda b, s, t: (b, "", t), "missing_signature"),
    ("missing timestamp", lambda b, s, t: (b, s, None), "missing_timestamp"),
    ("empty timestamp", lambda b, s, t: (b, s, ""), "missing_timestamp"),
    ("timestamp not a number", lambda b, s, t: (b, s, "abc"), "invalid_timestamp"),
    ("timestamp with sign", lambda b, s, t: (b, s, "+" + t), "invalid_timestamp"),
    ("timestamp with space", lambda b, s, t: (b, s, " " + t), "invalid_timestamp"),
    ("timestamp float", lambda b, s, t: (b, s, t + ".0"), "invalid_timestamp"),
    ("timestamp huge", lambda b, s, t: (b, s, "9" * 40), "invalid_timestamp"),
    ("timestamp non-ascii digits", lambda b, s, t: (b, s, "\u0661\u0667" + "\u0660" * 8), "invalid_timestamp"),
    ("timestamp changed", lambda b, s, t: (b, s, str(int(t) + 1)), "signature_mismatch"),
    ("signature not base64", lambda b, s, t: (b, "!!!" + s[3:], t), "invalid_signature_encoding"),
    ("signature non-ascii", lambda b, s, t: (b, "é" + s[1:], t), "invalid_signature_encoding"),
    ("signature too long", lambda b, s, t: (b, s * 3, t), "invalid_signature_encoding"),
    ("signature truncated", lambda b, s, t: (b, base64.b64encode(base64.b64decode(s)[:63]).decode(), t), "invalid_signature_length"),
    ("signature of 32 bytes", lambda b, s, t: (b, base64.b64encode(b"x" * 32).decode(), t), "invalid_signature_length"),
    ("signature bit flipped", lambda b, s, t: (b, _flip(s), t), "signature_mismatch"),
    ("body changed", lambda b, s, t: (b.replace(b"e1", b"e2"), s, t), "signature_mismatch"),
    ("trailing newline added", lambda b, s, t: (b + b"\n", s, t), "signature_mismatch"),
    ("body re-serialised", lambda b, s, t: (b.replace(b":", b": "), s, t), "signature_mismatch"),
    ("empty body", lambda b, s, t: (b"", s, t), "signature_mismatch"),
    ("signed by another key", lambda b, s, t: (b, OTHER.headers(b, int(t))["telnyx-signature-ed25519"], t), "signature_mismatch"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "reason"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_every_way_a_delivery_can_be_wrong_is_refused(
    signer: WebhookSigner, verifier: WebhookVerifier, mutate: object, reason: str
) -> None:
    body, signature, timestamp = mutate(*_parts(signer))  # type: ignore[operator]
    with pytest.raises(SignatureError) as caught:
        verifier.verify(body, signature, timestamp)
    assert caught.value.reason == reason


def test_any_of_several_keys_verifies_during_rotation(signer: WebhookSigner) -> None:
    rotating = WebhookVerifier([OTHER.public_key, signer.public_key], clock=lambda: NOW)
    rotating.verify(*_parts(signer))
    rotating.verify(*_parts(OTHER))


def test_a_key_removed_from_the_list_no_longer_verifies(signer: WebhookSigner) -> None:
    only_other = WebhookVerifier([OTHER.public_key], clock=lambda: NOW)
    with pytest.raises(SignatureError):
        only_other.verify(*_parts(signer))


def test_the_published_sdk_test_vector_key_is_accepted_as_a_key() -> None:
    # telnyx-java's published test key pair: seed -> public key must round-trip.
    seed = base64.b64decode("i1xxSkIuQOY9H8laaRslIoYGTJ1NwBAFdjsQwiwJH04=")
    assert WebhookSigner(seed).public_key == "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs="


def test_no_keys_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WebhookVerifier([])
