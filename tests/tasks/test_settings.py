from __future__ import annotations

import pytest

from ingest.settings import WebSettings
from tasks.settings import ConfigError, WorkerSettings, load_settings

KEY = "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs="


def test_worker_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    settings = load_settings(WorkerSettings)
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.telnyx_api_base_url == "https://api.telnyx.com/v2"
    assert (settings.recording_format, settings.recording_channels) == ("mp3", "single")
    assert (settings.announce_voice, settings.announce_language) == ("female", "en-US")


def test_every_problem_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDING_FORMAT", "ogg")
    monkeypatch.setenv("REDIS_URL", "http://x")
    with pytest.raises(ConfigError) as caught:
        load_settings(WorkerSettings)
    message = str(caught.value)
    assert "TELNYX_API_KEY is required" in message
    assert "RECORDING_FORMAT" in message
    assert "REDIS_URL must start with redis://" in message


def test_the_api_key_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "KEY-very-secret")
    settings = load_settings(WorkerSettings)
    assert "KEY-very-secret" not in repr(settings)
    assert "KEY-very-secret" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("template", "ok"),
    [
        ("{name} joined", True),
        ("Welcome!", True),
        ("{name.__class__}", False),
        ("{0}", False),
        ("{", False),
    ],
)
def test_the_announce_template_allows_only_name(
    monkeypatch: pytest.MonkeyPatch, template: str, ok: bool
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    monkeypatch.setenv("ANNOUNCE_TEMPLATE", template)
    if ok:
        assert load_settings(WorkerSettings).announce_template == template
    else:
        with pytest.raises(ConfigError, match="ANNOUNCE_TEMPLATE"):
            load_settings(WorkerSettings)


def test_several_public_keys_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TELNYX_PUBLIC_KEY", f" {KEY} , +7E99DXiiQXvceNX4nHm3Lbm5mqPWad5RhDr2ufuCik="
    )
    settings = load_settings(WebSettings)
    assert len(settings.public_keys) == 2
    assert settings.webhook_tolerance_seconds == 300


@pytest.mark.parametrize("value", ["", " , ", "not-base64!", "c2hvcnQ=", f"{KEY},bad"])
def test_bad_public_keys_fail_at_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TELNYX_PUBLIC_KEY", value)
    with pytest.raises(ConfigError, match="TELNYX_PUBLIC_KEY"):
        load_settings(WebSettings)
