from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from core.settings import CommonSettings, ConfigError, WorkerSettings, load_settings
from ingest.settings import WebSettings
from workers.config import worker_celery_config

KEY = "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs="


def test_worker_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    settings = load_settings(WorkerSettings)
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.telnyx_api_base_url == "https://api.telnyx.com/v2"
    assert (settings.recording_format, settings.recording_channels) == ("mp3", "single")
    assert (settings.announce_voice, settings.announce_language) == ("female", "en-US")


def test_the_lanes_lease_outlasts_a_call_and_a_redis_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    settings = load_settings(WorkerSettings)
    # connect + read of one API call, then a Redis outage waited out, then a margin
    assert settings.lane_lease_seconds == 2 * 10 + 50 / 2 + 2 == 47
    # A lease past Telnyx's 60 s command_id window is refused at start-up, naming its parts
    monkeypatch.setenv("TELNYX_API_TIMEOUT_SECONDS", "20")
    monkeypatch.setenv("BROKER_VISIBILITY_TIMEOUT_SECONDS", "70")
    with pytest.raises(ConfigError) as caught:
        load_settings(WorkerSettings)
    message = str(caught.value)
    assert "TELNYX_API_TIMEOUT_SECONDS" in message
    assert "BROKER_VISIBILITY_TIMEOUT_SECONDS" in message
    assert "77s" in message
    assert "under 60s" in message


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


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANNOUNCE_MERGED_TEMPLATE", "{name} joined"),
        ("ANNOUNCE_MERGED_TEMPLATE", "{names.__class__}"),
        ("ANNOUNCE_OTHERS", "{names} more"),
        ("ANNOUNCE_UNNAMED", "{0} people"),
        ("ANNOUNCE_ONE_OTHER", "{count}"),
        ("ANNOUNCE_MERGED_NAMES", "21"),
        ("ANNOUNCE_INTERVAL_SECONDS", "-1"),
        ("CONFERENCE_SETTLE_SECONDS", "31"),
    ],
)
def test_bad_merged_announcement_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
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


def test_a_rediss_url_verifies_by_default_for_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    monkeypatch.setenv("REDIS_URL", "rediss://:pw@redis.example:6380/0")
    settings = load_settings(WorkerSettings)
    # kombu alone would read an option-less rediss:// URL as "do not verify"
    assert settings.redis_tls == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert worker_celery_config(settings)["broker_use_ssl"] == settings.redis_tls
    assert settings.redis_options == settings.redis_tls


def test_tls_verification_off_and_a_private_ca(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REDIS_URL", "rediss://redis.example:6380")
    monkeypatch.setenv("REDIS_TLS_VERIFY", "false")
    monkeypatch.setenv("REDIS_TLS_CA_FILE", str(ca))
    assert load_settings(CommonSettings).redis_tls == {
        "ssl_cert_reqs": ssl.CERT_NONE,
        "ssl_ca_certs": str(ca),
    }


def test_plain_redis_has_no_tls_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")
    settings = load_settings(CommonSettings)
    assert settings.redis_tls is None
    assert settings.redis_options == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"REDIS_URL": "rediss://h:6380?ssl_cert_reqs=none"},
            "REDIS_URL must not carry ssl_* options; set REDIS_TLS_VERIFY",
        ),
        (
            {"REDIS_URL": "redis://h:6379", "REDIS_TLS_CA_FILE": "{ca}"},
            "REDIS_TLS_CA_FILE is set but REDIS_URL does not use rediss://",
        ),
        (
            {"REDIS_URL": "rediss://h:6380", "REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"},
            "REDIS_TLS_CA_FILE no such file: /nonexistent/ca.pem",
        ),
        ({"REDIS_TLS_VERIFY": "maybe"}, "REDIS_TLS_VERIFY"),
    ],
)
def test_bad_tls_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(ca=ca))
    with pytest.raises(ConfigError) as caught:
        load_settings(CommonSettings)
    assert message in str(caught.value)


def test_sentinel_settings_make_kombus_broker_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret@ignored:6379/2")
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, [::1]:26380")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "calls")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sentinel-pass")
    settings = load_settings(WorkerSettings)
    assert settings.sentinel_nodes == [("10.0.0.1", 26379), ("::1", 26380)]
    # The password and database come from REDIS_URL, the addresses from the Sentinels
    assert settings.broker_url == (
        "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://:s3cret@::1:26380/2"
    )
    config = worker_celery_config(settings)
    options = config["broker_transport_options"]
    assert options["master_name"] == "calls"
    assert options["sentinel_kwargs"]["password"] == "sentinel-pass"


def test_without_sentinel_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    settings = load_settings(WorkerSettings)
    assert settings.broker_url == settings.redis_url
    assert "master_name" not in worker_celery_config(settings)["broker_transport_options"]
    assert settings.redis_min_replicas == 0
    assert settings.dead_letter_ttl_seconds == 14 * 86400


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"REDIS_SENTINELS": "a:1"}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
        ({"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
        ({"REDIS_SENTINELS": "a:1,b", "REDIS_SENTINEL_MASTER": "m"}, "'b' is not host:port"),
        ({"REDIS_SENTINELS": "a:99999", "REDIS_SENTINEL_MASTER": "m"}, "is not host:port"),
        ({"REDIS_MIN_REPLICAS": "-1"}, "REDIS_MIN_REPLICAS"),
        ({"REDIS_REPLICA_TIMEOUT_SECONDS": "5"}, "REDIS_REPLICA_TIMEOUT_SECONDS"),
        ({"DEAD_LETTER_TTL_SECONDS": "60"}, "DEAD_LETTER_TTL_SECONDS"),
    ],
)
def test_bad_redis_ha_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(CommonSettings)
