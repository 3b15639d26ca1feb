"""The Sensors Data Python SDK (`sensorsanalyticssdk` 1.11.0), unmodified, pointed at liucun's `/sa`
(ingest-sensors.md §12.2).

All Sensors traffic goes to project `sensors`, whose write token is the `project` of the server URL. The
`DefaultConsumer` sends each call at once and raises on any non-2xx, so every call below is also a
check of the answer; the `BatchConsumer` sends its buffer as one gzip `data_list` on `flush()`.
"""

from __future__ import annotations

import time

import pytest
import sensorsanalytics
from sensorsanalytics import SensorsAnalyticsIdentity as Identity

from liucun_api import HTTP_TIMEOUT, ReadApi, eventually

LOGIN = "sa-u-42"
ANON = "sa-a-9c1f"
MOBILE = "13800000000"


@pytest.fixture(scope="module")
def p3(server):
    return server.create_project("sensors")


@pytest.fixture(scope="module")
def read3(server, p3) -> ReadApi:
    return ReadApi(server.endpoint, p3.name, p3.read_key)


@pytest.fixture(scope="module")
def sent(server, p3) -> float:
    url = f"{server.base_url}/sa?project={p3.write_key}"
    sa = sensorsanalytics.SensorsAnalytics(
        sensorsanalytics.DefaultConsumer(url, request_timeout=HTTP_TIMEOUT * 1000)
    )
    started = time.time()
    sa.track(ANON, "PageOpened", {"page": "/chat"})
    sa.track_signup(LOGIN, ANON)
    sa.track(LOGIN, "ChatSent", {"model_tier": "pro", "$ai_input_tokens": 1200}, is_login_id=True)
    sa.profile_set(LOGIN, {"plan": "pro", "trial": True}, is_login_id=True)
    sa.profile_set_once(LOGIN, {"first_model": "gpt-4o", "plan": "free"}, is_login_id=True)
    sa.profile_increment(LOGIN, {"chats": 3}, is_login_id=True)
    sa.profile_append(LOGIN, {"models": ["gpt-4o", "claude"]}, is_login_id=True)
    sa.profile_unset(LOGIN, ["trial"], is_login_id=True)
    sa.track_by_id("ChatSent", {"via": "sms"}, Identity("$identity_mobile", MOBILE))
    sa.bind(Identity("$identity_login_id", LOGIN), Identity("$identity_mobile", MOBILE))
    sa.close()

    batch = sensorsanalytics.SensorsAnalytics(
        sensorsanalytics.BatchConsumer(url, max_size=50, request_timeout=HTTP_TIMEOUT * 1000)
    )
    for i in range(5):
        batch.track(LOGIN, "BatchTrack", {"n": i}, is_login_id=True)
    batch.flush()
    batch.close()
    return started


def test_every_call_is_stored(sent, read3):
    def stored():
        names = sorted(e["event"] for e in read3.events(limit=1000))
        assert names == sorted(
            ["PageOpened", "$SignUp", "ChatSent", "ChatSent", "$BindID"]
            + ["$set"] * 4 + ["$set_once"] + ["BatchTrack"] * 5
        ), names
        return read3.events(limit=1000)

    events = eventually(stored)
    for e in events:
        assert e["properties"]["$lib"] == "python", e
        assert e["properties"]["$sensors_type"], e
        # Python sends no `_flush_time`: its times are stored as sent, a moment before the check.
    tokens = next(e for e in events if e["event"] == "ChatSent" and e["distinct_id"] == LOGIN)
    assert tokens["properties"]["$ai_input_tokens"] == 1200


def test_signup_and_bind_make_one_identified_person(sent, read3):
    def person():
        res = read3.person(LOGIN)
        assert res.status == 200, res
        body = res.json()
        assert f"$identity_mobile+{MOBILE}" in body["distinct_ids"], body
        return body

    body = eventually(person)
    assert body["identified"] is True
    assert ANON in body["distinct_ids"]
    anon = read3.person(ANON).json()
    assert anon["person_id"] == body["person_id"]


def test_profile_calls_fold_into_person_properties(sent, read3):
    def props():
        body = read3.person(LOGIN).json()
        assert "models" in body["properties"], body
        return body["properties"]

    p = eventually(props)
    assert p["plan"] == "pro"
    assert p["first_model"] == "gpt-4o"
    assert p["chats"] == 3
    assert p["models"] == ["gpt-4o", "claude"]
    assert "trial" not in p
