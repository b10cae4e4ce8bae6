"""Strands multi-agent systems persist their state through the client and resume from it: a Graph after
a failure, a Swarm after its process was killed, after an interrupt, and once it has completed."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
from strands import Agent
from strands.hooks import BeforeNodeCallEvent, HookProvider, HookRegistry
from strands.multiagent import GraphBuilder
from strands.multiagent.base import Status
from strands.session.repository_session_manager import RepositorySessionManager
from swarm_team import FACT, HANDOFF_MESSAGE, RESEARCH, SWARM_ID, TASK, WRITER_STARTED, build_swarm

from scripted_model import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]
CHILD_DEADLINE = 60.0  # seconds for the child process to reach the writer


def build_graph(repo, session_id: str, research_replies, write_replies):
    """research -> write, persisted in the session; returns the graph and its two agents."""
    manager = RepositorySessionManager(session_id=session_id, session_repository=repo)
    return pipeline_graph(manager, research_replies, write_replies)


def pipeline_graph(session_manager, research_replies, write_replies):
    """research -> write, persisted by ``session_manager``; returns the graph and its two agents."""
    researcher = Agent(model=ScriptedModel(research_replies), name="researcher", callback_handler=None)
    writer = Agent(model=ScriptedModel(write_replies), name="writer", callback_handler=None)
    builder = GraphBuilder()
    builder.add_node(researcher, "research")
    builder.add_node(writer, "write")
    builder.add_edge("research", "write")
    builder.set_entry_point("research")
    builder.set_graph_id("pipeline")
    builder.set_max_node_executions(10)
    builder.set_session_manager(session_manager)
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


def prompt_of(agent: Agent) -> str:
    """The text the agent's model was shown as the last user turn of its first call."""
    return "".join(block.get("text", "") for block in agent.model.calls[0][-1]["content"])


def node_ids(nodes) -> list[str]:
    return [node.node_id for node in nodes]


def run_until_the_writer_starts(url: str, session_id: str) -> None:
    """Run the swarm in a process of its own and kill it (SIGKILL) while the writer works."""
    # As a user's project runs it: the client and the scripted model as top-level modules.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "client"), str(ROOT / "examples/session_agent")])}
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("swarm_team.py")), url, session_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=CHILD_DEADLINE)
        line = child.stdout.readline().strip() if ready else ""
    finally:
        child.kill()
        _, errors = child.communicate()
    assert line == WRITER_STARTED, errors[-3000:]


def test_a_swarm_killed_mid_way_resumes_at_the_node_it_owed(backend, repo, sid):
    run_until_the_writer_starts(backend.url, sid)

    # What the service holds is the checkpoint after the researcher's turn: nothing ran the process' cleanup.
    stored = repo.read_multi_agent(sid, SWARM_ID)
    assert (stored["status"], stored["node_history"], stored["next_nodes_to_execute"]) == (
        "executing",
        ["researcher"],
        ["writer"],
    )
    assert stored["context"]["shared_context"] == {"researcher": FACT}
    assert stored["context"]["handoff_message"] == HANDOFF_MESSAGE
    assert stored["node_results"]["researcher"]["status"] == "completed"

    # A new process: fresh agents; the researcher has no reply left, so running it again would fail.
    resumed, researcher, writer = build_swarm(repo, sid, [], ["The sky is blue."])
    assert resumed.state.completion_status == Status.EXECUTING
    assert node_ids(resumed.state.node_history) == ["researcher"] and resumed.state.current_node.node_id == "writer"
    assert resumed.shared_context.context == {"researcher": FACT}
    assert resumed.state.task == TASK

    result = resumed(TASK)

    assert researcher.model.calls == []
    prompt = prompt_of(writer)
    assert f"Handoff Message: {HANDOFF_MESSAGE}" in prompt and f"User Request: {TASK}" in prompt
    assert "Previous agents who worked on this: researcher" in prompt and f"researcher: {FACT}" in prompt
    assert result.status == Status.COMPLETED and node_ids(result.node_history) == ["researcher", "writer"]
    assert str(result.results["writer"].result).strip() == "The sky is blue."
    final = repo.read_multi_agent(sid, SWARM_ID)
    assert final == resumed.serialize_state()
    assert (final["status"], final["node_history"], final["next_nodes_to_execute"]) == (
        "completed",
        ["researcher", "writer"],
        [],
    )


class ApproveTheWriter(HookProvider):
    """Human in the loop: the writer runs only once someone has answered "yes"."""

    def register_hooks(self, registry: HookRegistry, **kwargs) -> None:
        registry.add_callback(BeforeNodeCallEvent, self.ask)

    def ask(self, event: BeforeNodeCallEvent) -> None:
        if event.node_id == "writer" and event.interrupt("approve-writer", reason="publish?") != "yes":
            event.cancel_node = "not approved"


def test_an_interrupted_swarm_resumes_from_the_service_with_the_answer(repo, sid):
    swarm, _, _ = build_swarm(repo, sid, RESEARCH, [], hooks=[ApproveTheWriter()])

    interrupted = swarm(TASK)

    assert interrupted.status == Status.INTERRUPTED
    stored = repo.read_multi_agent(sid, SWARM_ID)
    assert (stored["status"], stored["node_history"], stored["next_nodes_to_execute"]) == (
        "interrupted",
        ["researcher"],
        ["writer"],
    )
    interrupt_state = stored["_internal_state"]["interrupt_state"]
    assert interrupt_state["activated"] is True
    [(interrupt_id, interrupt)] = interrupt_state["interrupts"].items()
    assert (interrupt["name"], interrupt["reason"], interrupt["response"]) == ("approve-writer", "publish?", None)
    assert interrupt_id == interrupted.interrupts[0].id

    # Later, in another process, the answer arrives; the interrupt is known only from the service.
    resumed, researcher, writer = build_swarm(repo, sid, [], ["The sky is blue."], hooks=[ApproveTheWriter()])
    result = resumed([{"interruptResponse": {"interruptId": interrupt_id, "response": "yes"}}])

    assert researcher.model.calls == []
    assert f"researcher: {FACT}" in prompt_of(writer) and f"User Request: {TASK}" in prompt_of(writer)
    assert result.status == Status.COMPLETED and node_ids(result.node_history) == ["researcher", "writer"]
    final = repo.read_multi_agent(sid, SWARM_ID)
    assert (final["status"], final["next_nodes_to_execute"]) == ("completed", [])
    assert final["_internal_state"]["interrupt_state"]["activated"] is False


def test_a_completed_swarm_is_stored_whole_and_a_new_one_starts_the_task_afresh(repo, sid):
    swarm, _, _ = build_swarm(repo, sid, RESEARCH, ["The sky is blue."])
    assert swarm(TASK).status == Status.COMPLETED

    stored = repo.read_multi_agent(sid, SWARM_ID)
    assert stored == swarm.serialize_state()
    assert (stored["status"], stored["node_history"], stored["next_nodes_to_execute"]) == (
        "completed",
        ["researcher", "writer"],
        [],
    )
    writer_result = stored["node_results"]["writer"]["result"]
    assert writer_result["message"]["content"][0]["text"] == "The sky is blue."

    # Strands resumes only a swarm that owes a node: a completed one is read back, then reset.
    again, researcher, writer = build_swarm(repo, sid, RESEARCH, ["The sky is still blue."])
    assert again.state.completion_status == Status.PENDING and again.state.node_history == []
    assert again.shared_context.context == {}
    result = again(TASK)

    assert len(researcher.model.calls) == 2 and len(writer.model.calls) == 1
    assert node_ids(result.node_history) == ["researcher", "writer"]
    assert (
        repo.read_multi_agent(sid, SWARM_ID)["node_results"]["writer"]["result"]["message"]["content"][0]["text"]
        == "The sky is still blue."
    )
