"""Our verifier against the official SDK's (`telnyx.lib.webhook_verification`), on a large set
of generated deliveries: valid ones, and every kind of corruption a forger or a broken proxy
produces. They must agree on every case."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

from ingest.signature import SignatureError, WebhookVerifier
from sandbox.events import encode, make_event
from sandbox.signer import WebhookSigner

SIGNER = WebhookSigner(bytes(range(32)))
OTHER = WebhookSigner(bytes(range(100, 132)))
EVENT_TYPES = [
    "conference.created",
    "conference.participant.joined",
    "call.enqueued",
    "conference.ended",
]


@dataclass(frozen=True)
class Delivery:
    kind: str
    body: bytes
    headers: dict[str, str]


def _flip_bit(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return b"x"
    raw = bytearray(data)
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    return bytes(raw)


def _flip_signature(signature: str, rng: random.Random) -> str:
    return base64.b64encode(_flip_bit(base64.b64decode(signature), rng)).decode()


Mutation = Callable[[bytes, str, str, random.Random], tuple[bytes, dict[str, str]]]


def _h(signature: str | None, timestamp: str | None) -> dict[str, str]:
    headers = {}
    if signature is not None:
        headers["telnyx-signature-ed25519"] = signature
    if timestamp is not None:
        headers["telnyx-timestamp"] = timestamp
    return headers


MUTATIONS: dict[str, Mutation] = {
    "valid": lambda b, s, t, r: (b, _h(s, t)),
    "valid, header names upper-cased": lambda b, s, t, r: (
        b, {"Telnyx-Signature-Ed25519": s, "TELNYX-TIMESTAMP": t}),
    "body bit flipped": lambda b, s, t, r: (_flip_bit(b, r), _h(s, t)),
    "body truncated": lambda b, s, t, r: (b[: r.randrange(len(b))], _h(s, t)),
    "body extended": lambda b, s, t, r: (b + b" ", _h(s, t)),
    "body re-serialised": lambda b, s, t, r: (json.dumps(json.loads(b), indent=1).encode(), _h(s, t)),
    "signature bit flipped": lambda b, s, t, r: (b, _h(_flip_signature(s, r), t)),
    "signature truncated": lambda b, s, t, r: (b, _h(base64.b64encode(base64.b64decode(s)[: r.randrange(64)]).decode(), t)),
    "signature doubled": lambda b, s, t, r: (b, _h(base64.b64encode(base64.b64decode(s) * 2).decode(), t)),
    "signature by another key": lambda b, s, t, r: (b, _h(OTHER.headers(b, int(t))["telnyx-signature-ed25519"], t)),
    "signature of another body": lambda b, s, t, r: (b, _h(SIGNER.headers(b + b"x", int(t))["telnyx-signature-ed25519"], t)),
    "signature missing": lambda b, s, t, r: (b, _h(None, t)),
    "timestamp missing": lambda b, s, t, r: (b, _h(s, None)),
    "both missing": lambda b, s, t, r: (b, {}),
    "timestamp shifted, still signed": lambda b, s, t, r: _resign(b, int(t) + r.choice([-1000, -301, -300, -299, 0, 299, 300, 301, 1000])),
    "timestamp changed after signing": lambda b, s, t, r: (b, _h(s, str(int(t) + r.choice([-5, -1, 1, 5])))),
    "timestamp not a number": lambda b, s, t, r: (b, _h(s, r.choice(["abc", "", "12.5", "0x10", "1e9"]))),
    "random signature": lambda b, s, t, r: (b, _h(base64.b64encode(r.randbytes(64)).decode(), t)),
}  # fmt: skip


def _resign(body: bytes, timestamp: int) -> tuple[bytes, dict[str, str]]:
    headers = SIGNER.headers(body, timestamp)
    return body, _h(headers["telnyx-signature-ed25519"], headers["telnyx-timestamp"])


def deliveries(count_per_kind: int, seed: int = 20261121) -> Iterator[Delivery]:
    rng = random.Random(seed)
    now = int(time.time())
    for kind, mutate in MUTATIONS.items():
        for _ in range(count_per_kind):
            event = make_event(rng.choice(EVENT_TYPES), attempt=rng.randint(1, 5))
            body = encode(event)
            signed = SIGNER.headers(body, now)
            new_body, headers = mutate(
                body, signed["telnyx-signature-ed25519"], signed["telnyx-timestamp"], rng
            )
            yield Delivery(kind, new_body, headers)


def _ours(delivery: Delivery) -> bool:
    verifier = WebhookVerifier([SIGNER.public_key], tolerance_seconds=300)
    lowered = {k.lower(): v for k, v in delivery.headers.items()}
    try:
        verifier.verify(
            delivery.body, lowered.get("telnyx-signature-ed25519"), lowered.get("telnyx-timestamp")
        )
    except SignatureError:
        return False
    return True


def _official(delivery: Delivery) -> bool:
    try:
        verify_webhook_signature(delivery.body, delivery.headers, SIGNER.public_key)
    except WebhookVerificationError:
        return False
    except UnicodeDecodeError:
        # It decodes the body as UTF-8 before verifying, and raises on bytes that are not:
        # it did not accept the delivery. (We verify the bytes as received.)
        return False
    return True


def test_ours_agrees_with_the_official_verifier_on_every_generated_delivery() -> None:
    cases = list(deliveries(count_per_kind=150))
    disagreements = [(d.kind, _ours(d), _official(d)) for d in cases if _ours(d) != _official(d)]
    assert len(cases) == 150 * len(MUTATIONS)
    assert disagreements == []
    # And the corpus exercises both answers, many times over.
    accepted = sum(_ours(d) for d in cases)
    assert 300 < accepted < len(cases) - 1000


@pytest.mark.parametrize(
    "timestamp_form",
    ["+{t}", " {t}", "{t} ", "0{t}"],
    ids=["plus sign", "leading space", "trailing space", "leading zero"],
)
def test_where_we_are_stricter_than_the_official_verifier_we_only_reject(
    timestamp_form: str,
) -> None:
    # Python's int() accepts these forms of a timestamp, so the official verifier checks the
    # signature of "<that form>|body"; Telnyx sends bare digits, and we refuse anything else
    # before looking at the signature. Leading zeros are bare digits: both accept them.
    body = encode(make_event("conference.created"))
    timestamp = timestamp_form.format(t=int(time.time()))
    signature = base64.b64encode(
        SIGNER._key.sign(timestamp.encode() + b"|" + body).signature
    ).decode()
    delivery = Delivery("form", body, _h(signature, timestamp))
    assert _official(delivery)
    assert _ours(delivery) == timestamp.isdigit()


def test_non_canonical_base64_is_refused_by_us_only() -> None:
    # The official verifier decodes base64 leniently (dropping characters outside the alphabet);
    # we refuse a signature header that is not clean base64.
    body = encode(make_event("conference.created"))
    headers = SIGNER.headers(body)
    sloppy = Delivery(
        "sloppy", body, _h(headers["telnyx-signature-ed25519"] + "!", headers["telnyx-timestamp"])
    )
    assert _official(sloppy)
    assert not _ours(sloppy)
