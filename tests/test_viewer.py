"""The conversation viewer (/ui/) in Flask's test client: sign-in, what each page shows and escapes,
namespaces on every page, and deleting behind a confirmation with a CSRF token.

tests/test_viewer_browser.py drives the same pages in a real Chromium through gunicorn.
"""

from __future__ import annotations

import base64
import re

import pytest
from markupsafe import escape
from prometheus_client import REGISTRY
from viewer_helpers import (
    REDACTED_TEXT,
    SCRIPT_TEXT,
    SEARCH_WORD,
    SECRET_TEXT,
    csrf_of,
    sign_in,
    snapshot_bytes,
    store_conversation,
    striped_png,
)

from app import create_app
from helpers import SESSIONS, execute, message_url
from key_helpers import bearer

OBJECT = "/api/v1/storage/object"
SNAPSHOTS = "session/s/scopes/agent/a/snapshots/"
IMMUTABLE_ID = "01938a4e-1b2c-7d3e-8f4a-5b6c7d8e9f0a"
# Team-a's records fill every page's path (team_a_owns_a_conversation): team-b must see none of them.
PATH_ARGUMENTS = {"session_id": "s", "agent_id": "a", "snapshot_name": "latest"}
# Each page of the viewer and the methods it answers; a page added without an entry fails
# test_every_viewer_page_is_in_the_namespace_table.
PAGES = {
    "ui.list_sessions": "GET",
    "ui.show_session": "GET",
    "ui.show_agent": "GET",
    "ui.show_snapshot": "GET",
    "ui.delete_session": "GET POST",
}
UNGUARDED = {"ui.static", "ui.sign_in", "ui.sign_out"}


@pytest.fixture
def team_a_owns_a_conversation(client, keys):
    """Team-a's session s: agent a with the whole conversation, and two snapshots of it."""
    key = keys["team-a"][1]
    store_conversation(client, "s", headers=bearer(key))
    for name, text in (
        ("snapshot_latest.json", "latest words"),
        (f"immutable_history/snapshot_{IMMUTABLE_ID}.json", "older words"),
    ):
        response = client.put(
            OBJECT, query_string={"key": SNAPSHOTS + name}, data=snapshot_bytes(text), headers=bearer(key)
        )
        assert response.status_code in (200, 201), response.get_data(as_text=True)
    return key


def refused_sign_ins() -> float:
    """The auth-failure counter of the viewer, in this process (Flask's test client: no multiprocess dir)."""
    return REGISTRY.get_sample_value("session_backend_auth_failures_total", {"endpoint": "viewer"}) or 0.0


def page_text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def test_without_keys_the_viewer_shows_the_default_namespace_without_signing_in(client):
    store_conversation(client, "open-session")

    page = page_text(client.get("/ui/"))

    assert "open-session" in page and "<strong>default</strong>" in page
    assert 'id="sign-out"' not in page


def test_with_keys_every_page_asks_to_sign_in_first(client, keys):
    for path in ("/ui/", "/ui/sessions/s", "/ui/sessions/s/agents/a"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/ui/sign-in"), path


def test_a_wrong_key_is_refused_counted_and_no_cookie_signs_in(client, keys):
    before = refused_sign_ins()

    response = sign_in(client, keys["team-a"][1] + "x")

    assert response.status_code == 401 and 'id="refused"' in response.get_data(as_text=True)
    assert client.get("/ui/").status_code == 302
    assert refused_sign_ins() == before + 1


def test_signing_in_sets_a_signed_http_only_same_site_strict_cookie_for_the_keys_namespace(client, keys):
    response = sign_in(client, keys["team-a"][1])

    assert response.status_code == 302 and response.headers["Location"].endswith("/ui/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert keys["team-a"][1] not in cookie
    assert "<strong>team-a</strong>" in page_text(client.get("/ui/"))


def test_the_conversation_shows_each_kind_of_content(client, team_a_owns_a_conversation):
    sign_in(client, team_a_owns_a_conversation)

    page = page_text(client.get("/ui/sessions/s/agents/a"))

    assert "get_weather" in page and escape('"city": "Lisbon"') in page
    assert "tool result" in page and "18 degrees and sunny" in page
    assert f'src="data:image/png;base64,{base64.b64encode(striped_png()).decode()}"' in page
    assert "The user wants the weather first." in page
    assert escape(REDACTED_TEXT) in page and SECRET_TEXT not in page
    assert 'id="m-0"' in page and 'id="m-5"' in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page  # the state, as formatted JSON
    assert escape('"removed_message_count": 0') in page


def test_a_message_holding_a_script_is_shown_as_text(client, team_a_owns_a_conversation):
    sign_in(client, team_a_owns_a_conversation)

    page = page_text(client.get("/ui/sessions/s/agents/a"))

    assert "<script" not in page
    assert escape(SCRIPT_TEXT) in page


def test_pages_forbid_scripts_framing_and_caching(client):
    response = client.get("/ui/")

    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Frame-Options"] == "DENY"


def test_the_session_page_shows_agents_multi_agent_state_and_the_lease_holder(client, team_a_owns_a_conversation):
    key = team_a_owns_a_conversation
    headers = bearer(key)
    assert (
        client.post(
            f"{SESSIONS}/s/multi-agents", json={"id": "swarm", "status": "<i>running</i>"}, headers=headers
        ).status_code
        == 201
    )
    assert client.post(f"{SESSIONS}/s/lease", json={"holder": "worker-7"}, headers=headers).status_code == 201
    sign_in(client, key)

    page = page_text(client.get("/ui/sessions/s"))

    assert 'href="/ui/sessions/s/agents/a"' in page
    assert "swarm" in page and "&lt;i&gt;running&lt;/i&gt;" in page
    assert re.search(r'id="lease">held by <strong>worker-7</strong>', page)


def test_long_conversations_are_paged_by_keyset_with_links_to_each_message(client):
    store_conversation(client, "long")
    for message_id in range(6, 130):
        body = {"message_id": message_id, "message": {"role": "user", "content": [{"text": f"line {message_id}"}]}}
        assert client.post(message_url("long", "a"), json=body).status_code == 201

    first = page_text(client.get("/ui/sessions/long/agents/a"))
    second = page_text(client.get("/ui/sessions/long/agents/a?after=49"))
    newest = page_text(client.get("/ui/sessions/long/agents/a?order=desc"))

    assert 'id="m-49"' in first and 'id="m-50"' not in first and "after=49" in first
    assert 'id="m-50"' in second and 'id="m-99"' in second and 'id="m-49"' not in second
    assert newest.index('id="m-129"') < newest.index('id="m-128"')
    # A message's own link opens the page that starts at it.
    assert 'href="/ui/sessions/long/agents/a?order=asc&amp;after=74#m-75"' in second


def test_the_agent_page_lists_its_snapshots_and_a_snapshot_page_shows_its_messages(client, team_a_owns_a_conversation):
    sign_in(client, team_a_owns_a_conversation)

    agent_page = page_text(client.get("/ui/sessions/s/agents/a"))
    latest = page_text(client.get("/ui/sessions/s/agents/a/snapshots/latest"))
    older = page_text(client.get(f"/ui/sessions/s/agents/a/snapshots/{IMMUTABLE_ID}"))

    assert "snapshot_latest" in agent_page and IMMUTABLE_ID in agent_page and "2024-" in agent_page
    assert "latest words" in latest and "older words" in older
    assert client.get("/ui/sessions/s/agents/a/snapshots/..%2f..").status_code in (404, 422)
    assert client.get("/ui/sessions/s/agents/a/snapshots/not-an-id").status_code == 404


@pytest.mark.parametrize("endpoint", sorted(PAGES))
def test_another_namespace_reaches_none_of_team_as_pages_and_changes_nothing(
    client, keys, team_a_owns_a_conversation, endpoint, clean_db
):
    app = create_app(serving=False)
    (rule,) = [r.rule for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_ARGUMENTS[m.group(1)], rule)
    before = execute(clean_db, "SELECT namespace, session_id FROM sessions ORDER BY 1, 2")
    sign_in(client, keys["team-b"][1])
    token = csrf_of(page_text(client.get("/ui/")))

    for method in PAGES[endpoint].split():
        response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        page = response.get_data(as_text=True)
        if endpoint == "ui.list_sessions":
            assert response.status_code == 200 and 'id="no-sessions"' in page
            searched = page_text(client.get(path, query_string={"q": SEARCH_WORD, "prefix": "s"}))
            assert 'id="no-sessions"' in searched
        else:
            assert response.status_code == 404, (method, path, page[:500])
        assert "What goes with" not in page and "get_weather" not in page
    assert execute(clean_db, "SELECT namespace, session_id FROM sessions ORDER BY 1, 2") == before


def test_every_viewer_page_is_in_the_namespace_table():
    app = create_app(serving=False)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/ui")}
    assert endpoints - UNGUARDED == set(PAGES)


def test_deleting_asks_for_confirmation_and_refuses_a_form_without_the_csrf_token(
    client, team_a_owns_a_conversation, clean_db
):
    sign_in(client, team_a_owns_a_conversation)

    confirm = page_text(client.get("/ui/sessions/s/delete"))
    forged = client.post("/ui/sessions/s/delete", data={"csrf_token": "forged"})
    missing = client.post("/ui/sessions/s/delete")

    assert 'id="confirm-delete"' in confirm
    assert forged.status_code == 400 and missing.status_code == 400
    assert execute(clean_db, "SELECT session_id FROM sessions") == [("s",)]

    deleted = client.post("/ui/sessions/s/delete", data={"csrf_token": csrf_of(confirm)})

    assert deleted.status_code == 302 and execute(clean_db, "SELECT session_id FROM sessions") == []
    assert "Deleted session s." in page_text(client.get("/ui/"))


def test_a_session_on_legal_hold_is_not_deleted(client, team_a_owns_a_conversation, clean_db):
    key = team_a_owns_a_conversation
    assert client.put(f"{SESSIONS}/s", json={"legal_hold": True}, headers=bearer(key)).status_code == 200
    sign_in(client, key)
    token = csrf_of(page_text(client.get("/ui/sessions/s/delete")))

    response = client.post("/ui/sessions/s/delete", data={"csrf_token": token})

    assert response.status_code == 409 and "legal hold" in response.get_data(as_text=True)
    assert execute(clean_db, "SELECT session_id FROM sessions") == [("s",)]


def test_signing_out_needs_the_csrf_token_and_forgets_the_key(client, keys):
    sign_in(client, keys["team-a"][1])
    token = csrf_of(page_text(client.get("/ui/")))

    assert client.post("/ui/sign-out").status_code == 400
    assert client.get("/ui/").status_code == 200
    assert client.post("/ui/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/ui/").status_code == 302


def test_a_key_revoked_while_signed_in_is_refused_at_the_next_page(app, client, keys):
    key_id, key = keys["team-a"]
    sign_in(client, key)
    assert client.get("/ui/").status_code == 200

    assert app.test_cli_runner().invoke(args=["keys", "revoke", key_id]).exit_code == 0

    response = client.get("/ui/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/ui/sign-in")


def test_bad_filters_get_an_error_page_not_a_crash(client):
    response = client.get("/ui/?updated_since=yesterday&cursor=nope")

    assert response.status_code == 422 and "request failed validation" in response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/html")
