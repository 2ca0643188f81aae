"""The Celery settings that the delivery guarantees rest on."""

from __future__ import annotations

import pytest

from core.settings import ConfigError, WorkerSettings, load_settings
from workers.config import worker_celery_config


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> WorkerSettings:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    return load_settings(WorkerSettings)


def test_late_acks_requeue_on_loss_and_json_only(settings: WorkerSettings) -> None:
    config = worker_celery_config(settings)
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["accept_content"] == ["json"]
    assert config["broker_connection_max_retries"] is None


def test_a_dead_workers_messages_come_back_within_two_minutes(settings: WorkerSettings) -> None:
    options = worker_celery_config(settings)["broker_transport_options"]
    worst = (
        options["visibility_timeout"]
        + options["unacked_restore_interval"]
        + options["unacked_mutex_expire"]
    )
    assert worst < 120
    # ...and the visibility timeout covers a waiting retry plus an API call
    assert (
        options["visibility_timeout"]
        > settings.retry_backoff_max_seconds + settings.action_lease_seconds
    )


def test_the_soft_shutdown_fits_the_platforms_30_seconds(settings: WorkerSettings) -> None:
    assert worker_celery_config(settings)["worker_soft_shutdown_timeout"] < 30


def test_a_visibility_timeout_shorter_than_a_retry_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELNYX_API_KEY", "k")
    monkeypatch.setenv("BROKER_VISIBILITY_TIMEOUT_SECONDS", "30")
    with pytest.raises(ConfigError, match="must exceed"):
        load_settings(WorkerSettings)
