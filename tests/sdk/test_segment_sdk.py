"""segment-analytics-python and the legacy analytics-python, unmodified, pointed at liucun
(ingest.md §8.5, §8.6).

All Segment traffic goes to project p2, whose write token is the Segment write key. The new
client sends it twice (HTTP Basic and the body's `writeKey`); the legacy one only as Basic.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_module
from dataclasses import dataclass, field

import pytest
from segment.analytics import Client
from segment.analytics.version import VERSION as SEGMENT_VERSION

from liucun_api import (
    HTTP_TIMEOUT,
    ReadApi,
    as_read,
    assert_time_close,
    fixed_past_timestamp,
)

USER = "seg-user-1"
ANON = "seg-anon-1"
PREVIOUS = "seg-old-1"
GZIP_IDS = ["seg-gz-a", "seg-gz-b", "seg-gz-c"]
LEGACY_USER = "seg-legacy-1"

TRACK_PROPERTIES = {"format": "pdf", "pages": 12, "ratio": 0.125, "size_mb": 1.5}
TRAITS = {"plan": "team", "email": "ada@example.com", "seats": 5}


@dataclass
class SegmentRun:
    """The messages the SDK calls returned (each carries its messageId)."""

    past: dt.datetime
    results: dict = field(default_factory=dict)
    gzip_ids: list[str] = field(default_factory=list)
    gzip_errors: list = field(default_factory=list)

    def message_id(self, call: str) -> str:
        return self.results[call][1]["messageId"]


@pytest.fixture(scope="module")
def sent(server, p2) -> SegmentRun:
    assert SEGMENT_VERSION == "2.4.0"
    run = SegmentRun(past=fixed_past_timestamp(2))

    # Synchronous: a non-2xx raises out of each call.
    client = Client(p2.write_key, host=server.base_url, sync_mode=True, timeout=HTTP_TIMEOUT,
                    max_retries=0)
    run.results["track"] = client.track(
        user_id=USER, anonymous_id=ANON, event="Report Exported",
        properties=TRACK_PROPERTIES, timestamp=run.past,
    )
    run.results["identify"] = client.identify(user_id=USER, traits=TRAITS)
    run.results["alias"] = client.alias(previous_id=PREVIOUS, user_id=USER)
    run.results["group"] = client.group(user_id=USER, group_id="org-9",
                                        traits={"name": "Org Nine", "tier": "gold"})
    run.results["page"] = client.page(
        user_id=USER, category="Docs", name="Pricing",
        properties={"url": "https://app.example/pricing", "title": "Pricing"},
    )

    # Queued and gzip-compressed, flushed explicitly.
    batched = Client(p2.write_key, host=server.base_url, gzip=True, timeout=HTTP_TIMEOUT,
                     max_retries=1, upload_interval=0.2,
                     on_error=lambda error, batch: run.gzip_errors.append(error))
    for i in range(6):
        ok, msg = batched.track(user_id=GZIP_IDS[i % 3], event="Batch Track", properties={"n": i})
        assert ok
        run.gzip_ids.append(msg["messageId"])
    batched.flush()
    batched.shutdown()
    return run


@pytest.fixture(scope="module")
def legacy_sent(server, p2) -> tuple[dict, dt.datetime]:
    """One track through the legacy package, which authenticates with HTTP Basic only."""
    legacy = pytest.importorskip("analytics")
    from analytics.version import VERSION as LEGACY_VERSION

    assert LEGACY_VERSION == "1.4.post1"
    client = legacy.Client(p2.write_key, host=server.base_url, sync_mode=True,
                           timeout=HTTP_TIMEOUT)
    past = fixed_past_timestamp(2)
    ok, msg = client.track(user_id=LEGACY_USER, event="Legacy Track", properties={"v": 1},
                           timestamp=past)
    assert ok
    return msg, past


@pytest.fixture(scope="module")
def read(server, p2) -> ReadApi:
    return ReadApi(server.endpoint, "p2", p2.read_key)


def test_calls_return_success_and_a_message_id(sent):
    for call, (ok, msg) in sent.results.items():
        assert ok is True, call
        assert msg["type"] == call
        assert str(uuid_module.UUID(msg["messageId"])) == msg["messageId"]


def test_gzip_client_reported_no_error(sent):
    assert sent.gzip_errors == []


def test_every_message_id_is_stored_exactly_once(sent, read):
    ids = [sent.message_id(call) for call in sent.results] + sent.gzip_ids
    for message_id in ids:
        event = read.event(message_id)  # a uuid messageId is the event uuid
        assert event["properties"]["$segment_message_id"] == message_id


def test_project_comes_from_the_write_key(server, sent, read, p1):
    other = ReadApi(server.endpoint, "p1", p1.read_key)
    for message_id in (sent.message_id("track"), sent.gzip_ids[0]):
        read.event(message_id)
        assert other.events(uuid=message_id) == []


def test_track_maps_to_an_event_with_its_properties(sent, read):
    event = read.event(sent.message_id("track"))
    assert event["event"] == "Report Exported"
    assert event["distinct_id"] == USER  # userId wins over anonymousId
    props = event["properties"]
    for key, value in TRACK_PROPERTIES.items():
        assert props[key] == as_read(value), key
    assert props["$lib"] == "analytics-python"
    assert props["$lib_version"] == SEGMENT_VERSION
    assert props["$segment_context"] == {"library": {"name": "analytics-python",
                                                     "version": SEGMENT_VERSION}}
    assert props["$segment_integrations"] == {}
    assert_time_close(event["timestamp"], sent.past)


def test_identify_sets_person_properties(sent, read):
    event = read.event(sent.message_id("identify"))
    assert event["event"] == "$identify"
    assert event["distinct_id"] == USER
    assert event["properties"]["$set"] == TRAITS

    res = read.person(USER)
    assert res.status == 200, res
    person = res.json()
    assert person["identified"] is True
    for key, value in TRAITS.items():
        assert person["properties"][key] == value, key


def test_both_ids_and_alias_make_one_person(sent, read):
    alias = read.event(sent.message_id("alias"))
    assert alias["event"] == "$create_alias"
    assert alias["distinct_id"] == USER
    assert alias["properties"]["alias"] == PREVIOUS

    people = {}
    for distinct_id in (USER, ANON, PREVIOUS):
        res = read.person(distinct_id)
        assert res.status == 200, (distinct_id, res)
        people[distinct_id] = res.json()
    assert len({p["person_id"] for p in people.values()}) == 1, people
    assert people[USER]["distinct_ids"] == sorted([USER, ANON, PREVIOUS])


def test_group_and_page_mapping(sent, read):
    group = read.event(sent.message_id("group"))
    assert group["event"] == "$groupidentify"
    props = group["properties"]
    assert (props["$group_type"], props["$group_key"]) == ("segment_group", "org-9")
    assert props["$group_set"] == {"name": "Org Nine", "tier": "gold"}

    page = read.event(sent.message_id("page"))
    assert page["event"] == "$pageview"
    props = page["properties"]
    assert props["$current_url"] == "https://app.example/pricing"
    assert (props["name"], props["category"]) == ("Pricing", "Docs")
    assert props["title"] == "Pricing"


def test_gzip_batch_delivers_every_message(sent, read):
    for distinct_id in GZIP_IDS:
        assert len(read.events_of(distinct_id, 2)) == 2
    assert {read.event(m)["properties"]["n"] for m in sent.gzip_ids} == set(range(6))


def test_legacy_client_basic_auth_only(server, legacy_sent, read, p1):
    msg, past = legacy_sent
    event = read.event(msg["messageId"])  # stored once, in the project of the Basic key
    assert event["event"] == "Legacy Track"
    assert event["distinct_id"] == LEGACY_USER
    assert event["properties"]["$lib_version"] == "1.4.post1"
    assert_time_close(event["timestamp"], past)
    assert ReadApi(server.endpoint, "p1", p1.read_key).events(uuid=msg["messageId"]) == []
