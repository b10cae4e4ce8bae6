"""Two processes invoke the same session at the same moment (issue 14): with SessionLease every round
stores whole turns in order, or the loser is refused before it stores anything; without it, the test
records the damage. And a holder SIGKILLed mid-turn: the session is free again after the lease's TTL,
and what the dead holder would still write is refused.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections import Counter
from typing import Any

import requests
from lease_worker import AGENT_ID, blocked_holder, race_worker, turns, whole_turn_of
from strands import Agent
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.session import SessionMessage

from postgresql_session_repository import LeaseLostError, SessionLease, SyncPostgreSQLSessionRepository
from scripted_model import ScriptedModel

ROUNDS = 50
WORKERS = ("a", "b")
REPORT_DEADLINE = 120.0  # seconds for a worker to report a round (a spawn start imports Strands first)
SEED = ["hello", "hi"]  # the conversation each round's session starts with


def seed_session(repo: SyncPostgreSQLSessionRepository, session_id: str) -> None:
    """Create the session and its agent with one stored exchange, so both workers restore the same state."""
    manager = RepositorySessionManager(session_id=session_id, session_repository=repo)
    Agent(model=ScriptedModel([SEED[1]]), agent_id=AGENT_ID, callback_handler=None, session_manager=manager)(SEED[0])


def stored_conversation(repo: SyncPostgreSQLSessionRepository, session_id: str) -> list[dict[str, Any]]:
    """The stored messages, after checking their ids run 0..n-1 without a gap or a duplicate."""
    stored = repo.list_messages(session_id, AGENT_ID)
    assert [m.message_id for m in stored] == list(range(len(stored)))
    return [m.to_message() for m in stored]


def run_rounds(url: str, api_key: str, use_lease: bool, base: str, repo) -> list[tuple[str, dict[str, str]]]:
    """Play ROUNDS rounds with two spawned worker processes, reused across rounds; per round, the session
    id and each worker's outcome."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(WORKERS))
    results = ctx.Queue()
    commands = {who: ctx.Queue() for who in WORKERS}
    workers = [
        ctx.Process(
            target=race_worker, args=(who, url, api_key, use_lease, commands[who], results, barrier), daemon=True
        )
        for who in WORKERS
    ]
    for worker in workers:
        worker.start()
    played: list[tuple[str, dict[str, str]]] = []
    try:
        for round_no in range(ROUNDS):
            session_id = f"{base}-{round_no}"
            seed_session(repo, session_id)
            wait = 10 if round_no % 2 == 0 else 0  # even rounds: the loser waits its turn; odd: refused at once
            for who in WORKERS:
                commands[who].put((round_no, session_id, wait))
            outcomes: dict[str, str] = {}
            for _ in WORKERS:
                who, reported_round, outcome = results.get(timeout=REPORT_DEADLINE)
                assert reported_round == round_no
                outcomes[who] = outcome
            played.append((session_id, outcomes))
    finally:
        for who in WORKERS:
            commands[who].put(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    return played


def test_with_the_lease_every_round_stores_whole_turns_in_order_or_refuses_the_loser(
    backend, repo, sid, api_key_in_environment
):
    played = run_rounds(backend.url, api_key_in_environment, True, sid, repo)

    tally: Counter[str] = Counter()
    for session_id, outcomes in played:
        assert set(outcomes.values()) <= {"ok", "SessionBusyError"}, outcomes
        assert "ok" in outcomes.values(), outcomes  # the lease was free when the round began
        conversation = stored_conversation(repo, session_id)
        seed, *rest = turns(conversation)
        assert [m["content"][0]["text"] for m in seed] == SEED
        stored_turns = [whole_turn_of(turn) for turn in rest]
        assert None not in stored_turns, conversation  # no orphaned toolUse, no interleaving
        round_no = int(session_id.rsplit("-", 1)[1])
        # Each winner's turn exactly once, in the order the lease was granted; a refused one stored nothing.
        assert sorted(stored_turns) == sorted((who, round_no) for who, out in outcomes.items() if out == "ok")
        assert repo.lease_state(session_id)["held"] is False
        tally["both stored" if len(stored_turns) == 2 else "loser refused"] += 1
    print(f"with the lease, {ROUNDS} rounds: {dict(tally)}")


def test_without_the_lease_the_race_loses_turns(backend, repo, sid, api_key_in_environment):
    """Documents what the lease prevents; which outcome each round has is up to the race.

    Without a lease both invocations restore message 1 as the latest and append message 2: the first to
    store it wins, the other's agent crashes with the server's 409 (the user's turn is lost), or, when
    the appends interleave, the stored conversation is left with turns cut in pieces.
    """
    played = run_rounds(backend.url, api_key_in_environment, False, sid, repo)

    tally: Counter[str] = Counter()
    for session_id, outcomes in played:
        # The only failure is the server refusing the duplicate message id.
        assert set(outcomes.values()) <= {"ok", "ConflictError"}, outcomes
        stored_turns = [whole_turn_of(turn) for turn in turns(stored_conversation(repo, session_id))[1:]]
        if None in stored_turns:
            kind = "interleaved: a turn stored in pieces"
        elif len(stored_turns) == 2:
            kind = "both stored (the turns happened not to overlap)"
        else:
            kind = "one turn lost: its invocation crashed with a 409"
        tally[kind] += 1
        if kind.startswith("one turn lost"):
            assert list(outcomes.values()).count("ConflictError") == 1, outcomes
    print(f"without the lease, {ROUNDS} rounds: {dict(tally)}")


def test_a_holder_killed_mid_turn_frees_the_session_after_its_ttl_and_its_late_writes_are_refused(
    backend, repo, sid, api_key_in_environment, make_agent
):
    ttl = 2
    ctx = multiprocessing.get_context("spawn")
    reports = ctx.Queue()
    holder = ctx.Process(target=blocked_holder, args=(backend.url, api_key_in_environment, sid, ttl, reports))
    holder.start()
    try:
        pid, old_lease_id, old_fence = reports.get(timeout=REPORT_DEADLINE)
    except queue.Empty:
        holder.kill()
        raise
    assert pid == holder.pid
    os.kill(holder.pid, signal.SIGKILL)  # mid-turn: its toolUse is stored, its toolResult never will be
    holder.join()
    killed_turn = stored_conversation(repo, sid)
    assert [m["role"] for m in killed_turn] == ["user", "assistant"]
    assert "toolUse" in killed_turn[-1]["content"][0]

    # The next invocation: Strands adds a toolResult for the orphaned toolUse before the invocation
    # starts; that write waits for the dead holder's lease to expire, then goes in under a new token.
    lease = SessionLease(repo, wait=ttl + 10, ttl=ttl)
    make_agent(repo, sid, ["carried on"], hooks=[lease])("turn next 1")

    conversation = stored_conversation(repo, sid)
    tool_use_id = killed_turn[-1]["content"][0]["toolUse"]["toolUseId"]
    assert conversation[:2] == killed_turn
    assert conversation[2]["content"][0]["toolResult"]["toolUseId"] == tool_use_id
    assert [m["content"][0].get("text") for m in conversation[3:]] == ["turn next 1", "carried on"]
    state = repo.lease_state(sid)
    assert state["held"] is False and state["fence"] == old_fence + 1

    # The dead holder's late writes, replayed with its old token: refused, and nothing changes.
    late = SessionMessage.from_message({"role": "user", "content": [{"toolResult": {"toolUseId": tool_use_id,
        "status": "success", "content": [{"text": "late"}]}}]}, 5)  # fmt: skip
    answer = requests.post(
        f"{backend.url}/api/v1/sessions/{sid}/agents/{AGENT_ID}/messages",
        json=late.to_dict(),
        headers={"Authorization": f"Bearer {api_key_in_environment}", "X-Session-Fence": str(old_fence)},
        timeout=10,
    )
    assert answer.status_code == 409
    assert answer.json()["detail"]["error"] == "LeaseLostError"
    assert answer.json()["detail"]["fence"] == old_fence + 1
    with SyncPostgreSQLSessionRepository(backend.url, timeout=10) as replayed:
        replayed._fences[sid] = old_fence  # as the dead process's client held it
        try:
            replayed.create_message(sid, AGENT_ID, late)
        except LeaseLostError as error:
            assert error.fence == old_fence + 1
        else:
            raise AssertionError("a write with the dead holder's token was accepted")
    renew = requests.put(
        f"{backend.url}/api/v1/sessions/{sid}/lease/{old_lease_id}",
        json={"ttl_seconds": ttl},
        headers={"Authorization": f"Bearer {api_key_in_environment}"},
        timeout=10,
    )
    assert renew.status_code == 409 and renew.json()["detail"]["error"] == "LeaseLostError"
    assert stored_conversation(repo, sid) == conversation
