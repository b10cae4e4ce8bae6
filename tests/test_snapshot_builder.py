"""The snapshot builder on its own: the stored states it refuses, and the repairs of a restore.

That its snapshots are the ones Strands writes is held end to end, against Strands itself, in
tests/client/test_snapshot_conversion.py.
"""

from __future__ import annotations

import json

import pytest

from app.snapshot_builder import (
    EMPTY_INTERRUPT_STATE,
    UnrestorableAgentError,
    build_snapshot,
    from_message_log,
    removed_message_count,
    repair_tool_pairs,
)

MANAGER = {"__name__": "SlidingWindowConversationManager", "removed_message_count": 2}


def agent(manager=MANAGER, internal=None) -> dict:
    return {"state": {"k": 1}, "conversation_manager_state": manager, "internal_state": internal or {}}


def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


def tool_use(tool_use_id: str) -> dict:
    return {"role": "assistant", "content": [{"toolUse": {"toolUseId": tool_use_id, "name": "t", "input": {}}}]}


def tool_result(tool_use_id: str) -> dict:
    return {"role": "user", "content": [{"toolResult": {"toolUseId": tool_use_id, "status": "success", "content": []}}]}


@pytest.mark.parametrize("count", ["2", -1, True, 1.5, None])
def test_a_removed_message_count_strands_could_not_use_is_refused(count):
    with pytest.raises(UnrestorableAgentError):
        removed_message_count({"removed_message_count": count})
    assert removed_message_count({}) == 0 and removed_message_count(MANAGER) == 2


@pytest.mark.parametrize(
    "message", [{"content": []}, {"role": "user"}, {"role": "assistant", "content": [{"toolUse": {}}]}]
)
def test_a_message_strands_could_not_restore_is_refused(message):
    with pytest.raises(UnrestorableAgentError):
        build_snapshot(agent(), [user("q"), message, user("last")])


def test_without_internal_state_a_restored_agent_has_the_empty_one_and_the_summary_comes_first():
    summary = user("Summary: earlier.")
    snapshot = build_snapshot(agent({**MANAGER, "summary_message": summary}), [user("q")], "2026-01-01T00:00:00Z")

    assert snapshot["data"]["messages"] == [summary, user("q")]
    assert snapshot["data"]["interrupt_state"] == EMPTY_INTERRUPT_STATE and snapshot["data"]["model_state"] == {}
    assert "system_prompt" not in snapshot["data"]
    assert (snapshot["scope"], snapshot["schema_version"], snapshot["app_data"]) == ("agent", "1.0", {})


def test_a_tool_result_without_its_tool_use_goes_and_a_lost_result_is_filled_in():
    # The log's first messages were removed up to a toolResult; a toolUse lost its result mid-conversation.
    messages = [
        tool_result("gone"),
        user("q"),
        tool_use("t1"),
        user("are you there?"),
        tool_use("t2"),
        tool_result("t2"),
    ]

    repaired = repair_tool_pairs(messages)

    assert repaired[0] == user("q")
    assert repaired[2]["content"][0]["toolResult"]["content"] == [{"text": "Tool was interrupted."}]
    assert repaired[3] == user("are you there?")
    assert repaired[4:] == [tool_use("t2"), tool_result("t2")]


def test_from_message_log_reads_the_query_row_and_tells_what_it_wrote():
    data, facts = from_message_log(json.dumps(agent()), json.dumps([user("q"), user("é")]))

    assert facts == {"messages": 2, "removed_message_count": 2}
    assert "é" in data.decode("utf-8")  # UTF-8, not \\u escapes, as Strands writes it


@pytest.mark.parametrize("field", ["state", "conversation_manager_state", "internal_state"])
def test_a_stored_field_that_is_no_object_is_refused(field):
    with pytest.raises(UnrestorableAgentError):
        from_message_log(json.dumps({**agent(), field: []}), "[]")
