"""The Celery tasks: thin wrappers that validate, plan and call the Telnyx client.

`telnyx.handle_event` turns one webhook into its follow-ups, each queued as its own task
(`conference.record_start`, `conference.speak`, ...) so each is retried on its own.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.utils.log import get_task_logger
from pydantic import ValidationError

from tasks import runtime
from tasks.naming import HANDLE_EVENT, QUEUE, call_task, conference_task, followup_task_id
from tasks.policy import FollowUp, plan
from tasks.retry import backoff_seconds
from telnyx_api.client import CALL_ACTIONS, CONFERENCE_ACTIONS
from telnyx_api.errors import APIError, TelnyxError
from telnyx_api.events import Envelope

log = get_task_logger(__name__)


@shared_task(name=HANDLE_EVENT, bind=True)
def handle_event(self: Task[Any, Any], body: str) -> dict[str, Any]:
    try:
        event = Envelope.model_validate_json(body).data
    except ValidationError as exc:
        # Ingest validated it; a body that fails here came from elsewhere or an older version.
        log.error("dropping an invalid event body: %s", exc.errors(include_input=False)[:3])
        return {"status": "invalid"}
    followups = plan(event, runtime.current().policy)
    for followup in followups:
        _queue_followup(followup, event.id, event.event_type)
    if followups:
        log.info(
            "event %s %s: queued %s", event.event_type, event.id, [f.action for f in followups]
        )
    else:
        log.info("event %s %s: no follow-up", event.event_type, event.id)
    return {"status": "planned", "followups": [f.key for f in followups]}


def _queue_followup(followup: FollowUp, event_id: str, event_type: str) -> None:
    name = (
        conference_task(followup.action)
        if followup.kind == "conference"
        else call_task(followup.action)
    )
    context = {"event_id": event_id, "event_type": event_type}
    handle_event.app.send_task(
        name,
        args=[followup.target, followup.params, context],
        task_id=followup_task_id(event_id, followup.key),
        queue=QUEUE,
        # Flower shows this instead of the arguments: ids, never spoken text or caller data.
        argsrepr=f"{followup.kind}={followup.target} event={event_id}",
        kwargsrepr="{}",
    )


def _perform(
    self: Task[Any, Any],
    kind: str,
    action: str,
    target: str,
    params: dict[str, Any],
    context: dict[str, Any],
) -> dict[str, Any]:
    rt = runtime.current()
    client = rt.client
    where = f"{kind}.{action} {target} (event {context.get('event_id')})"
    try:
        if kind == "conference":
            result = client.conferences.actions.perform(action, target, params)
        else:
            result = client.calls.actions.perform(action, target, params)
    except TelnyxError as exc:
        return _on_error(self, exc, where)
    log.info("%s: %s", where, result.result or "ok")
    return {"status": "sent", "result": result.result}


def _on_error(self: Task[Any, Any], exc: TelnyxError, where: str) -> dict[str, Any]:
    settings = runtime.current().settings
    codes = ",".join(exc.codes) if isinstance(exc, APIError) else ""
    retries = self.request.retries
    if exc.retryable and retries < settings.task_max_retries:
        hint = exc.retry_delay if isinstance(exc, APIError) else None
        delay = backoff_seconds(
            retries,
            base=settings.retry_backoff_base_seconds,
            cap=settings.retry_backoff_max_seconds,
            hint=hint,
        )
        log.warning("%s: %s; retry %d in %.1fs", where, exc, retries + 1, delay)
        raise self.retry(exc=exc, countdown=delay, max_retries=settings.task_max_retries)
    if exc.retryable:
        log.error("%s: giving up after %d retries: %s", where, retries, exc)
        return {"status": "gave_up", "codes": codes}
    log.error("%s: not retried (codes %s): %s", where, codes or "-", exc)
    return {"status": "failed", "codes": codes}


def _register(kind: str, action: str) -> Task[Any, Any]:
    name = conference_task(action) if kind == "conference" else call_task(action)

    @shared_task(name=name, bind=True)
    def run(
        self: Task[Any, Any], target: str, params: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        return _perform(self, kind, action, target, params, context)

    return run


ACTION_TASKS: dict[str, Task[Any, Any]] = {
    **{conference_task(a): _register("conference", a) for a in CONFERENCE_ACTIONS},
    **{call_task(a): _register("call", a) for a in CALL_ACTIONS},
}
