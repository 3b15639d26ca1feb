"""posthog-python, unmodified, pointed at liucun (ingest.md §8.3, §8.4, §8.6).

The module fixture drives three clients into project p1 — synchronous with `debug=True` (so any
non-200 raises here), batched with gzip, and one marked `historical_migration` — and keeps every
uuid the SDK returns. The tests then check, through liucun's read API and not the SDK's word, that
each event is stored exactly once with its properties, times and identity effects intact.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid as uuid_module
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from posthog import Posthog
from posthog.version import VERSION as POSTHOG_VERSION

from liucun_api import (
    HTTP_TIMEOUT,
    ReadApi,
    as_read,
    assert_api_error,
    assert_time_close,
    fixed_past_timestamp,
    raw_number_text,
    utcnow,
)

USER = "ph-user-1"
ANON = "ph-anon-1"
BATCH_IDS = ["ph-batch-a", "ph-batch-b", "ph-batch-c"]
HISTORICAL_USER = "ph-hist-1"

# Token and cost fields of an LLM call (events.md §6). Each float is written by the SDK as Python's
# shortest repr, and liucun must give back exactly that text: "0.000123", "2.3e-05", …
AI_PROPERTIES = {
    "$ai_provider": "openai",
    "$ai_model": "gpt-4o-mini",
    "$ai_trace_id": "trace-7f3a",
    "$ai_input_tokens": 41500,
    "$ai_output_tokens": 900,
    "$ai_cache_read_input_tokens": 36000,
    "$ai_cache_creation_input_tokens": 4000,
    "$ai_input_cost_usd": 0.0001,
    "$ai_output_cost_usd": 0.000023,
    "$ai_total_cost_usd": 0.000123,
    "$ai_latency": 1.25,
    "$ai_model_parameters": {"temperature": 0.7, "service_tier": "default"},
    "conversation_turn": 18446744073709551617,  # wider than 64 bits: no binary round trip
}
# Every top-level number, compared as the text in the response.
EXACT_NUMBERS = [key for key, value in AI_PROPERTIES.items() if isinstance(value, (int, float))]


@dataclass
class PosthogRun:
    """What the SDK calls returned, and the times they were meant to have."""

    past: dt.datetime
    historical_time: dt.datetime
    generation: str = ""
    anon_pageview: str = ""
    sets: list[str] = field(default_factory=list)
    set_onces: list[str] = field(default_factory=list)
    alias: str = ""
    group: str = ""
    personless: str = ""
    ai_lane: str = ""
    batched: list[str] = field(default_factory=list)
    batch_errors: list = field(default_factory=list)
    historical: str = ""

    def all_uuids(self) -> list[str]:
        return [self.generation, self.anon_pageview, *self.sets, *self.set_onces, self.alias,
                self.group, self.personless, self.ai_lane, *self.batched, self.historical]


@pytest.fixture(scope="module")
def sent(server, p1) -> PosthogRun:
    assert POSTHOG_VERSION == "7.91.1"
    run = PosthogRun(past=fixed_past_timestamp(3), historical_time=fixed_past_timestamp(30))

    # §8.3: synchronous; debug=True makes any non-200 raise out of the call.
    client = Posthog(p1.write_key, host=server.base_url, sync_mode=True, debug=True,
                     timeout=HTTP_TIMEOUT)
    try:
        run.generation = client.capture(
            "$ai_generation", distinct_id=USER, properties=AI_PROPERTIES, timestamp=run.past
        )
        run.anon_pageview = client.capture(
            "$pageview", distinct_id=ANON,
            properties={"$current_url": "https://app.example/pricing"},
        )
        run.sets = [
            client.set(distinct_id=USER, properties={"plan": "free", "seats": 1}),
            client.set(distinct_id=USER, properties={"plan": "pro", "seats": 3}),
        ]
        run.set_onces = [
            client.set_once(distinct_id=USER, properties={"first_plan": "free"}),
            client.set_once(distinct_id=USER, properties={"first_plan": "pro"}),
        ]
        # On the wire: event $create_alias, distinct_id = ANON, properties.alias = USER.
        run.alias = client.alias(previous_id=ANON, distinct_id=USER)
        # group_identify invents a personful random id when none is given, so pass ours.
        run.group = client.group_identify(
            "company", "acme-co", {"name": "Acme", "employees": 11}, distinct_id=USER
        )
        # No distinct id: the SDK invents a uuid4 id and marks the event personless.
        run.personless = client.capture("server_heartbeat", properties={"job": "nightly"})
        # The AI lane posts to /i/v0/ai/batch/.
        run.ai_lane = client.capture_ai(
            "$ai_embedding", distinct_id=USER,
            properties={"$ai_model": "text-embedding-3-small", "$ai_input_tokens": 512},
        )
    finally:
        client.shutdown()

    # §8.4: batched, gzip-compressed, flushed explicitly.
    batched = Posthog(p1.write_key, host=server.base_url, gzip=True, flush_at=50,
                      max_retries=1, timeout=HTTP_TIMEOUT,
                      on_error=lambda error, batch: run.batch_errors.append(error))
    for i in range(9):
        run.batched.append(batched.capture(
            "batched_event", distinct_id=BATCH_IDS[i % 3], properties={"i": i}
        ))
    batched.flush(timeout_seconds=15)
    batched.shutdown()

    # §8.4, optional: a historical import.
    historical = Posthog(p1.write_key, host=server.base_url, sync_mode=True, debug=True,
                         historical_migration=True, timeout=HTTP_TIMEOUT)
    try:
        run.historical = historical.capture(
            "imported_event", distinct_id=HISTORICAL_USER,
            properties={"source_system": "legacy-warehouse"}, timestamp=run.historical_time,
        )
    finally:
        historical.shutdown()
    return run


@pytest.fixture(scope="module")
def read(server, p1) -> ReadApi:
    return ReadApi(server.endpoint, "p1", p1.read_key)


def test_every_call_returns_its_event_uuid(sent):
    uuids = sent.all_uuids()
    for value in uuids:
        assert isinstance(value, str), uuids
        assert str(uuid_module.UUID(value)) == value
    assert len(set(uuids)) == len(uuids)


def test_batched_client_reported_no_error(sent):
    assert sent.batch_errors == []


def test_every_uuid_is_stored_exactly_once(sent, read):
    for value in sent.all_uuids():
        read.event(value)  # exactly one event with that uuid


def test_project_comes_from_the_body_api_key(server, sent, read, p2):
    read.event(sent.generation)
    other = ReadApi(server.endpoint, "p2", p2.read_key)
    for value in (sent.generation, sent.batched[0], sent.historical):
        assert other.events(uuid=value) == []


def test_properties_survive_with_exact_numbers(sent, read):
    event = read.event(sent.generation)
    assert event["event"] == "$ai_generation"
    assert event["distinct_id"] == USER
    assert event["personless"] is False
    props = event["properties"]
    for key, value in AI_PROPERTIES.items():
        assert props[key] == as_read(value), key
    assert props["$ai_total_cost_usd"] == Decimal("0.000123")
    assert props["$lib"] == "posthog-python"
    assert props["$lib_version"] == POSTHOG_VERSION

    # Exactness is about text, not value: compare the response bytes.
    text = read.events_raw(uuid=sent.generation).text
    for key in EXACT_NUMBERS:
        literal = raw_number_text(AI_PROPERTIES[key])
        pattern = re.escape(f'"{key}"') + r"\s*:\s*" + re.escape(literal) + r"(?=[\s,}])"
        assert re.search(pattern, text), f"{key} is not written as {literal}"


def test_supplied_timestamp_is_kept(sent, read):
    # The SDK sends sent_at just after the call, so skew correction leaves the time as supplied.
    assert_time_close(read.event(sent.generation)["timestamp"], sent.past)
    assert_time_close(read.event(sent.historical)["timestamp"], sent.historical_time)


def test_sdk_default_timestamps_are_now(sent, read):
    event = read.event(sent.sets[0])
    assert_time_close(event["timestamp"], utcnow(), tolerance=dt.timedelta(minutes=2))
    assert event["received_at"]


def test_set_and_set_once_are_applied(sent, read):
    first_set = read.event(sent.sets[0])
    assert first_set["event"] == "$set"
    # The SDK's top-level $set is merged into properties.$set.
    assert first_set["properties"]["$set"] == {"plan": "free", "seats": 1}
    assert read.event(sent.set_onces[0])["properties"]["$set_once"] == {"first_plan": "free"}

    res = read.person(USER)
    assert res.status == 200, res
    person = res.json()
    assert person["properties"]["plan"] == "pro"          # $set: last write wins
    assert person["properties"]["seats"] == 3
    assert person["properties"]["first_plan"] == "free"   # $set_once: first write wins


def test_alias_joins_two_ids_into_one_person(sent, read):
    alias = read.event(sent.alias)
    assert alias["event"] == "$create_alias"
    assert alias["distinct_id"] == ANON
    assert alias["properties"]["alias"] == USER

    user = read.person(USER)
    anon = read.person(ANON)
    assert user.status == 200 and anon.status == 200, (user, anon)
    user, anon = user.json(), anon.json()
    assert user["person_id"] == anon["person_id"]
    assert user["distinct_ids"] == sorted([ANON, USER])
    assert user["distinct_id"] == USER and anon["distinct_id"] == ANON
    # The kept side of a $create_alias is identified (events.md §5.3).
    assert user["identified"] is True
    # Every event of either id resolves to that one person.
    assert read.event(sent.anon_pageview)["person_id"] == user["person_id"]
    assert read.event(sent.generation)["person_id"] == user["person_id"]


def test_group_identify_is_stored(sent, read):
    event = read.event(sent.group)
    assert event["event"] == "$groupidentify"
    assert event["distinct_id"] == USER
    props = event["properties"]
    assert (props["$group_type"], props["$group_key"]) == ("company", "acme-co")
    assert props["$group_set"] == {"name": "Acme", "employees": 11}


def test_event_without_distinct_id_is_personless(sent, read):
    event = read.event(sent.personless)
    assert event["event"] == "server_heartbeat"
    assert event["personless"] is True
    assert event["properties"]["$process_person_profile"] is False
    invented = event["distinct_id"]
    assert str(uuid_module.UUID(invented)) == invented  # the SDK's random uuid4 id
    # A personless id is not a person, so it is not counted.
    assert_api_error(read.person(invented), [404], code="unknown_person")


def test_ai_lane_event_is_stored(sent, read):
    event = read.event(sent.ai_lane)
    assert event["event"] == "$ai_embedding"
    assert event["properties"]["$ai_input_tokens"] == 512


def test_batched_gzip_client_delivers_every_event(sent, read):
    for distinct_id in BATCH_IDS:
        events = read.events_of(distinct_id, 3)
        assert {e["event"] for e in events} == {"batched_event"}
    stored = {read.event(value)["properties"]["i"] for value in sent.batched}
    assert stored == set(range(9))


def test_historical_migration_is_metadata_only(sent, read):
    event = read.event(sent.historical)
    assert event["meta"].get("historical_migration") is True
    assert event["event"] == "imported_event"
    assert event["properties"]["source_system"] == "legacy-warehouse"
    assert read.event(sent.generation)["meta"].get("historical_migration") in (False, None)
