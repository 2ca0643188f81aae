"""The ids derived from Telnyx event ids: stable across versions, since queued messages and
the ledger's records carry them."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from core import naming
from core.naming import command_id, event_task_id, followup_task_id, inline_drain_id, merged_id

# Text that UTF-8 can encode (no lone surrogates), as any id Telnyx sends is.
_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=80)


@given(_text)
def test_ids_are_rfc4122_uuid5_of_the_namespace(name: str) -> None:
    assert naming._uuid5(name) == str(uuid.uuid5(naming._NAMESPACE, name))


def test_each_id_is_the_uuid5_of_its_own_name() -> None:
    # The names are part of the stored format: a message queued by an older version must get
    # the same task id, command_id and drain id from this one.
    def ref(name: str) -> str:
        return str(uuid.uuid5(naming._NAMESPACE, name))

    assert event_task_id("e-1") == ref("event:e-1")
    assert command_id("e-1", "record") == ref("command:e-1:record")
    assert followup_task_id("e-1", "record") == ref("followup:e-1:record")
    assert inline_drain_id("e-1") == ref("drain:e-1")
    assert merged_id(["a", "b"]) == ref("merged:a\nb")
    assert event_task_id("e-1") == "6c0c92ef-0329-5337-bf0b-cc059680ffc4"
