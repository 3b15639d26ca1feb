"""The server itself: health endpoints, the admin API, the CLI beside a running server, and who
may read what through /api."""

from __future__ import annotations

from liucun_api import (
    READ_KEY,
    WRITE_KEY,
    ReadApi,
    assert_api_error,
    assert_posthog_ok,
    bearer,
    ph_envelope,
    ph_event,
    unique_id,
)


def test_health_endpoints_need_no_key(endpoint):
    assert endpoint.get("/_readiness").status == 200
    assert endpoint.get("/_liveness").status == 200


def test_admin_api_answers(p1):
    # The documented fields; an answer may carry more (such as a creation time).
    assert p1.created["project"]["name"] == "p1"
    for kind, pattern in (("write", WRITE_KEY), ("read", READ_KEY)):
        answer = p1.created[kind]
        assert pattern.fullmatch(answer["key"]), answer
        assert answer["kind"] == kind and answer["project"] == "p1", answer
        assert answer["prefix"] == answer["key"][:8], answer


def test_admin_api_needs_the_admin_key(server, p1):
    no_key = server.endpoint.post_json("/api/v1/projects", {"name": "nope"})
    assert_api_error(no_key, [401])
    read_key = server.endpoint.post_json(
        "/api/v1/projects", {"name": "nope"}, headers=bearer(p1.read_key)
    )
    assert_api_error(read_key, [401, 403])
    write_key = server.endpoint.post_json(
        "/api/v1/keys", {"project": "p1", "kind": "read"}, headers=bearer(p1.write_key)
    )
    assert_api_error(write_key, [401, 403])


def test_a_project_can_have_several_write_tokens(server, p1):
    second = server.admin_post("/api/v1/keys", {"project": "p1", "kind": "write"})
    assert second.status == 201, second
    token = second.json()["key"]
    assert token != p1.write_key
    event = ph_event("second_token", unique_id("tok2"))
    assert_posthog_ok(server.endpoint.post_json("/batch/", ph_envelope(token, [event])), 1)
    ReadApi(server.endpoint, "p1", p1.read_key).event(event["uuid"])


def test_cli_creates_a_project_and_key_the_running_server_accepts(server):
    made = server.cli("projects", "create", "p3")
    assert made.returncode == 0, made.stderr
    keyed = server.cli("keys", "create", "--project", "p3", "--kind", "write")
    assert keyed.returncode == 0, keyed.stderr
    token = keyed.stdout.strip()
    assert WRITE_KEY.fullmatch(token), f"keys create printed {keyed.stdout!r}"

    # Accepted at once, without a restart.
    event = ph_event("cli_key_event", unique_id("cli"))
    assert_posthog_ok(server.endpoint.post_json("/batch/", ph_envelope(token, [event])), 1)

    # The admin API sees the CLI-made project too.
    read = server.admin_post("/api/v1/keys", {"project": "p3", "kind": "read"})
    assert read.status == 201, read
    stored = ReadApi(server.endpoint, "p3", read.json()["key"]).event(event["uuid"])
    assert stored["event"] == "cli_key_event"


def test_read_api_refuses_missing_and_wrong_keys(server, p1, p2):
    path = "/api/v1/projects/p1/events"
    assert_api_error(server.endpoint.get(path), [401])
    # A write token is public; it never reads.
    assert_api_error(server.endpoint.get(path, headers=bearer(p1.write_key)), [401])
    # Another project's read key: refused, whichever of the two codes says so.
    assert_api_error(server.endpoint.get(path, headers=bearer(p2.read_key)), [401, 403])
    assert_api_error(
        server.endpoint.get("/api/v1/projects/p1/quarantine", headers=bearer(p2.read_key)),
        [401, 403],
    )
    assert_api_error(server.endpoint.get(path, headers=bearer("lcr_" + "x" * 40)), [401])


def test_admin_key_reads_like_a_read_key(server, p1):
    event = ph_event("admin_reads", unique_id("adm"))
    assert_posthog_ok(server.endpoint.post_json("/batch/", ph_envelope(p1.write_key, [event])), 1)
    ReadApi(server.endpoint, "p1", server.admin_key).event(event["uuid"])


def test_unknown_person_is_404(server, p1):
    res = ReadApi(server.endpoint, "p1", p1.read_key).person(unique_id("never-seen"))
    assert_api_error(res, [404], code="unknown_person")


def test_api_paths_send_no_cors_headers(server, p1):
    res = server.endpoint.get(
        "/api/v1/projects/p1/events",
        headers={**bearer(p1.read_key), "Origin": "https://app.example"},
        query={"limit": 1},
    )
    assert res.status == 200, res
    assert res.header("Access-Control-Allow-Origin") is None


def test_a_new_project_starts_empty(server):
    p4 = server.create_project("p4")
    events = ReadApi(server.endpoint, "p4", p4.read_key).events(limit=10)
    assert events == []
