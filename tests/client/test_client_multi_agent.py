"""A Strands Graph persists its state through the client and resumes from it after a failure."""

from __future__ import annotations

import pytest
from scripted_model import ScriptedModel
from strands import Agent
from strands.multiagent import GraphBuilder
from strands.session.repository_session_manager import RepositorySessionManager


def build_graph(repo, session_id: str, research_replies, write_replies):
    """research -> write, persisted in the session; returns the graph and its two agents."""
    researcher = Agent(model=ScriptedModel(research_replies), name="researcher", callback_handler=None)
    writer = Agent(model=ScriptedModel(write_replies), name="writer", callback_handler=None)
    builder = GraphBuilder()
    builder.add_node(researcher, "research")
    builder.add_node(writer, "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_graph_id("pipeline")
    builder.set_max_node_executions(10)
    builder.set_session_manager(RepositorySessionManager(session_id=session_id, session_repository=repo))
    return builder.build(), researcher, writer


def test_graph_resumes_from_persisted_state(repo, sid):
    graph, _, _ = build_graph(repo, sid, ["Fact: the sky is blue."], [RuntimeError("writer crashed")])
    with pytest.raises(RuntimeError, match="writer crashed"):
        graph("Write one line about the sky")

    stored = repo.read_multi_agent(sid, "pipeline")
    assert stored == graph.serialize_state()
    assert stored["completed_nodes"] == ["research"] and stored["next_nodes_to_execute"] == ["write"]
    assert stored["node_results"]["research"]["result"]["message"]["content"][0]["text"] == "Fact: the sky is blue."

    # A new process: fresh agents and graph; the researcher has no reply left, so re-running it would fail.
    resumed, researcher, writer = build_graph(repo, sid, [], ["The sky is blue."])
    result = resumed("Write one line about the sky")
    assert researcher.model.calls == []
    writer_prompt = [block["text"] for block in writer.model.calls[0][0]["content"]]
    assert writer_prompt[0] == "Original Task: Write one line about the sky"
    assert any("Fact: the sky is blue." in text for text in writer_prompt)
    assert str(result.results["write"].result).strip() == "The sky is blue."

    final = repo.read_multi_agent(sid, "pipeline")
    assert final == resumed.serialize_state()
    assert sorted(final["completed_nodes"]) == ["research", "write"] and final["next_nodes_to_execute"] == []
