"""Hand-built HTTP requests against the capture paths (ingest.md §8.7 and the rules behind it).

These cover what the Python SDKs never send: posthog-js's legacy and current wire formats, every
path variant, the error answers and their bodies, per-event quarantine and clock-skew correction.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.parse
import zlib

import pytest

from liucun_api import (
    ReadApi,
    assert_posthog_error,
    assert_posthog_ok,
    assert_segment_error,
    assert_segment_ok,
    assert_time_close,
    basic_auth,
    bearer,
    gzip_json,
    iso,
    new_uuid,
    ph_envelope,
    ph_event,
    segment_track,
    unique_id,
    utcnow,
)

MiB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def read1(server, p1) -> ReadApi:
    return ReadApi(server.endpoint, "p1", p1.read_key)


@pytest.fixture(scope="module")
def read2(server, p2) -> ReadApi:
    return ReadApi(server.endpoint, "p2", p2.read_key)


def epoch_ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def js_event(token: str, distinct_id: str, event: str = "$pageview", **fields) -> dict:
    """An event as posthog-js builds it: token and distinct id inside `properties`."""
    out = {"event": event, "uuid": new_uuid(),
           "properties": {"token": token, "distinct_id": distinct_id,
                          "$current_url": "https://app.example/chat", "$lib": "web"}}
    out.update(fields)
    return out


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------

POSTHOG_PATHS = ["/batch", "/e", "/i/v0/e", "/capture", "/track", "/engage", "/i/v0/ai/batch"]


@pytest.mark.parametrize("path", [p + s for p in POSTHOG_PATHS for s in ("", "/")])
def test_every_posthog_path_takes_an_envelope(endpoint, p1, read1, path):
    event = ph_event("path_check", unique_id("path"), properties={"path": path})
    assert_posthog_ok(endpoint.post_json(path, ph_envelope(p1.write_key, [event])), 1)
    assert read1.event(event["uuid"])["properties"]["path"] == path


SEGMENT_SINGLE = {
    "/v1/track": ({"event": "Single Track", "properties": {"k": "v"}}, "Single Track"),
    "/v1/identify": ({"traits": {"plan": "solo"}}, "$identify"),
    "/v1/page": ({"name": "Home", "properties": {"url": "https://app.example/"}}, "$pageview"),
    "/v1/screen": ({"name": "Main", "properties": {}}, "$screen"),
    "/v1/group": ({"groupId": "grp-1", "traits": {"name": "G"}}, "$groupidentify"),
    "/v1/alias": ({}, "$create_alias"),  # previousId is added per request
}


@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize("path", sorted(SEGMENT_SINGLE))
def test_segment_single_call_paths_take_their_type_from_the_path(endpoint, p2, read2, path, slash):
    fields, event_name = SEGMENT_SINGLE[path]
    user = unique_id("single")
    message = {"userId": user, "messageId": new_uuid(), "timestamp": iso(utcnow()),
               "context": {"library": {"name": "raw-http", "version": "1"}}, **fields}
    if path == "/v1/alias":
        message["previousId"] = unique_id("alias-prev")
    res = endpoint.post_json(path + slash, message, headers=basic_auth(p2.write_key))
    assert_segment_ok(res, 1)
    event = read2.event(message["messageId"])
    assert event["event"] == event_name
    assert event["distinct_id"] == user
    if path == "/v1/screen":
        assert event["properties"]["$screen_name"] == "Main"


NOT_SERVED = ["/flags", "/flags/?v=2", "/decide/", "/array/phc_abc/config",
              "/array/phc_abc/config.js", "/s/", "/i/v0/ai", "/i/v1/analytics/events"]


@pytest.mark.parametrize("path", NOT_SERVED)
def test_paths_liucun_does_not_serve_are_404(endpoint, p1, path):
    res = endpoint.post_json(path, {"api_key": p1.write_key, "distinct_id": "u-1"})
    assert res.status == 404, res


# ---------------------------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/e/", "/batch/", "/i/v0/e/"])
def test_options_mirrors_origin_and_requested_headers(endpoint, path):
    origin = "https://app.example"
    res = endpoint.request("OPTIONS", path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-requested-with",
    })
    assert res.status == 200, res
    assert res.header("Access-Control-Allow-Origin") == origin
    assert res.header("Access-Control-Allow-Credentials") == "true"
    methods = {m.strip().upper() for m in res.header("Access-Control-Allow-Methods").split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = res.header("Access-Control-Allow-Headers").lower()
    assert "content-type" in allowed and "x-requested-with" in allowed


def test_capture_answer_carries_cors_for_the_origin(endpoint, p1):
    origin = "https://other.example:8443"
    event = ph_event("cors_post", unique_id("cors"))
    res = endpoint.post_json("/e/", ph_envelope(p1.write_key, [event]), headers={"Origin": origin})
    assert_posthog_ok(res, 1)
    assert res.header("Access-Control-Allow-Origin") == origin
    assert res.header("Access-Control-Allow-Credentials") == "true"


# ---------------------------------------------------------------------------------------------
# Bodies, encodings and posthog-js wire formats
# ---------------------------------------------------------------------------------------------


def test_malformed_json_is_400(endpoint, p1):
    body = ('{"api_key": "%s", "batch": [{"event": ' % p1.write_key).encode()
    res = endpoint.request("POST", "/batch/", body=body, headers=JSON)
    assert_posthog_error(res, 400, "invalid_json", "validation_error")


def test_missing_payload_is_400(endpoint):
    res = endpoint.request("POST", "/batch/", body=b"", headers=JSON)
    assert_posthog_error(res, 400, "missing_payload", "validation_error")


# Each contains a character outside base64, so none of them is taken for a base64 payload.
@pytest.mark.parametrize("payload", ['"just a string"', "42.5", '{"api_key": "%s", "batch": "x"}'])
def test_unknown_shape_is_400(endpoint, p1, payload):
    body = payload.replace("%s", p1.write_key) if "%s" in payload else payload
    res = endpoint.request("POST", "/batch/", body=body, headers=JSON)
    assert_posthog_error(res, 400, "unknown_shape", "validation_error")


def test_empty_batch_is_200_with_nothing_accepted(endpoint, p1):
    assert_posthog_ok(endpoint.post_json("/batch/", ph_envelope(p1.write_key, [])), 0)


def test_body_over_20_mib_is_413(endpoint):
    size = 20 * MiB + 1
    assert endpoint.post_oversized("/batch/", size, JSON) == 413
    assert endpoint.post_oversized("/v1/batch", size, JSON) == 413


def test_decompressed_payload_over_100_mib_is_413(endpoint, p1):
    # About 100 KiB on the wire; 101 MiB once inflated.
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip container
    head = '{"api_key": "%s", "batch": [{"event": "huge", "distinct_id": "u", "properties": {"blob": "'
    parts = [packer.compress((head % p1.write_key).encode())]
    block = b"a" * MiB
    for _ in range(101):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b'"}}]}'))
    parts.append(packer.flush())
    res = endpoint.request("POST", "/batch/", body=b"".join(parts),
                           headers={**JSON, "Content-Encoding": "gzip"}, timeout=30)
    assert res.status == 413, res


def test_a_batch_over_the_item_limit_is_413_naming_it(endpoint, p1):
    # 10 000 items per request by default: a hundred times the SDKs' batch of 100.
    items = [ph_event("many", "u")] * 10_001
    res = endpoint.post_json("/batch/", ph_envelope(p1.write_key, items))
    assert_posthog_error(res, 413, "too_many_items", "validation_error")
    segment = {"writeKey": p1.write_key, "batch": [{"type": "track", "event": "e", "userId": "u"}] * 10_001}
    res = endpoint.post_json("/v1/batch", segment)
    assert res.status == 413, res
    assert res.json()["code"] == "too_many_items"


def test_gzip_without_any_header_is_sniffed(endpoint, p1, read1):
    event = ph_event("gzip_sniffed", unique_id("gz"))
    res = endpoint.request("POST", "/batch/", body=gzip_json(ph_envelope(p1.write_key, [event])),
                           headers=JSON)
    assert_posthog_ok(res, 1)
    read1.event(event["uuid"])


def test_compression_gzip_js_query(endpoint, p1, read1):
    event = ph_event("gzip_js", unique_id("gzjs"))
    res = endpoint.request("POST", "/batch/?compression=gzip-js",
                           body=gzip_json(ph_envelope(p1.write_key, [event])), headers=TEXT)
    assert_posthog_ok(res, 1)
    read1.event(event["uuid"])


def test_legacy_posthog_js_batch_uses_offsets(endpoint, p1, read1):
    """gzip sent as text/plain, a bare array of queued events carrying `offset`, `?_=` in ms."""
    user = unique_id("js-legacy")
    offsets = {"first": 60_000, "second": 1_520}
    events = []
    for name, offset in offsets.items():
        event = js_event(p1.write_key, user, offset=offset)
        del event["uuid"]  # legacy posthog-js sends none; the server assigns a v7
        event["properties"]["marker"] = name
        events.append(event)
    before = utcnow()
    res = endpoint.request(
        "POST", f"/e/?_={epoch_ms(before)}&ver=1.160.0&compression=gzip-js",
        body=gzip_json(events), headers=TEXT,
    )
    after = utcnow()
    assert_posthog_ok(res, 2)
    for stored in read1.events_of(user, 2):
        offset = dt.timedelta(milliseconds=offsets[stored["properties"]["marker"]])
        t = dt.datetime.fromisoformat(stored["timestamp"])
        # time = receipt − offset, and receipt lies between `before` and `after`.
        assert before - offset - dt.timedelta(seconds=2) <= t <= after - offset + dt.timedelta(seconds=2)


def test_legacy_posthog_js_single_event_object(endpoint, p1, read1):
    """posthog-js "send instantly": one event object, not a batch (body shape 4)."""
    sent = utcnow() - dt.timedelta(seconds=30)
    event = js_event(p1.write_key, unique_id("js-single"), timestamp=iso(sent))
    res = endpoint.request("POST", f"/e/?_={epoch_ms(utcnow())}&ver=1.160.0",
                           body=json.dumps(event), headers=TEXT)
    assert_posthog_ok(res, 1)
    stored = read1.event(event["uuid"])
    assert stored["distinct_id"] == event["properties"]["distinct_id"]
    assert_time_close(stored["timestamp"], sent)


def test_current_posthog_js_envelope_without_compression_query(endpoint, p1, read1):
    event = js_event(p1.write_key, unique_id("js-current"), timestamp=iso(utcnow()))
    body = gzip_json({"api_key": p1.write_key, "batch": [event], "sent_at": iso(utcnow())})
    res = endpoint.request("POST", "/e/", body=body, headers=TEXT)
    assert_posthog_ok(res, 1)
    assert read1.event(event["uuid"])["properties"]["$current_url"] == "https://app.example/chat"


def _base64_with_plus(token: str) -> tuple[dict, str]:
    """A posthog-js event whose base64 encoding contains `+` (padded until it does)."""
    for n in range(64):
        event = js_event(token, unique_id("js-b64"))
        event["properties"]["pad"] = "~" * n
        text = base64.b64encode(json.dumps(event).encode()).decode()
        if "+" in text:
            return event, text
    raise AssertionError("no base64 text with '+' found")


def test_form_data_base64_with_plus_and_compression_query(endpoint, p1, read1):
    # posthog-js writes `data=<base64>` without escaping `+`, which form decoding turns into a space.
    event, text = _base64_with_plus(p1.write_key)
    res = endpoint.request("POST", "/e/?compression=base64", body=f"data={text}", headers=FORM)
    assert_posthog_ok(res, 1)
    read1.event(event["uuid"])


def test_form_data_base64_with_compression_field(endpoint, p1, read1):
    event, text = _base64_with_plus(p1.write_key)
    res = endpoint.request("POST", "/e/", body=f"data={text}&compression=base64", headers=FORM)
    assert_posthog_ok(res, 1)
    read1.event(event["uuid"])


def test_data_query_parameter_on_get(endpoint, p1, read1):
    event, text = _base64_with_plus(p1.write_key)
    res = endpoint.get("/e/?" + urllib.parse.urlencode({"data": text, "compression": "base64"}))
    assert_posthog_ok(res, 1)
    read1.event(event["uuid"])


def test_beacon_is_204_without_body(endpoint, p1, read1):
    event = js_event(p1.write_key, unique_id("beacon"))
    res = endpoint.request("POST", "/e/?beacon=1", body=json.dumps([event]), headers=TEXT)
    assert res.status == 204, res
    assert res.body == b""
    read1.event(event["uuid"])


def test_engage_object_becomes_identify_with_set(endpoint, p1, read1):
    user = unique_id("engage")
    body = {"$token": p1.write_key, "$distinct_id": user, "$set": {"plan": "legacy-pro"}}
    assert_posthog_ok(endpoint.post_json("/engage/", body), 1)
    (event,) = read1.events_of(user, 1)
    assert event["event"] == "$identify"
    assert event["properties"]["$set"] == {"plan": "legacy-pro"}
    res = read1.person(user)
    assert res.status == 200, res
    assert res.json()["properties"]["plan"] == "legacy-pro"


def test_numbers_keep_their_json_text(endpoint, p1, read1):
    uuid = new_uuid()
    # Written by hand: Python's json would print 1.10 as 1.1.
    body = ('{"api_key": "%s", "batch": [{"event": "numbers", "distinct_id": "%s", "uuid": "%s", '
            '"properties": {"price": 1.10, "tiny": 1e-7, "huge": 123456789012345678901234567890, '
            '"neg": -0.0}}]}') % (p1.write_key, unique_id("num"), uuid)
    assert_posthog_ok(endpoint.request("POST", "/batch/", body=body, headers=JSON), 1)
    read1.event(uuid)
    text = read1.events_raw(uuid=uuid).text
    for key, literal in (("price", "1.10"), ("tiny", "1e-7"),
                         ("huge", "123456789012345678901234567890"), ("neg", "-0.0")):
        assert re.search(rf'"{key}"\s*:\s*{re.escape(literal)}(?=[\s,}}])', text), (key, text)


def test_uuid_is_stored_lowercase(endpoint, p1, read1):
    event = ph_event("upper_uuid", unique_id("upper"))
    event["uuid"] = event["uuid"].upper()
    assert_posthog_ok(endpoint.post_json("/batch/", ph_envelope(p1.write_key, [event])), 1)
    assert read1.event(event["uuid"].lower())["uuid"] == event["uuid"].lower()


# ---------------------------------------------------------------------------------------------
# Per-event quarantine
# ---------------------------------------------------------------------------------------------


def test_one_event_without_distinct_id_is_quarantined_alone(endpoint, p1, read1):
    first = ph_event("partial", unique_id("partial"))
    missing = ph_event("partial", None, properties={"marker": unique_id("no-id")})
    last = ph_event("partial", unique_id("partial"))
    res = endpoint.post_json("/batch/", ph_envelope(p1.write_key, [first, missing, last]))
    body = assert_posthog_ok(res, 2, 1)
    assert body["quarantine"][0]["index"] == 1
    assert body["quarantine"][0]["reason"] == "missing_distinct_id"
    read1.event(first["uuid"])
    read1.event(last["uuid"])
    assert read1.events(uuid=missing["uuid"]) == []
    read1.quarantined_with("missing_distinct_id", missing["properties"]["marker"])


@pytest.mark.parametrize("event_fields, reason", [
    ({"uuid": "not-a-uuid"}, "invalid_uuid"),
    ({"event": "$performance_event"}, "unsupported_event_type"),
    ({"timestamp": "FUTURE"}, "timestamp_in_future"),
    ({"event": None}, "missing_event_name"),
    ({"distinct_id": "undefined"}, "placeholder_distinct_id"),
])
def test_bad_event_is_quarantined_with_its_reason(endpoint, p1, read1, event_fields, reason):
    marker = unique_id(reason)
    event = ph_event("to_quarantine", unique_id("q"), properties={"marker": marker})
    for key, value in event_fields.items():
        if value is None:
            event.pop(key)
        elif value == "FUTURE":
            event[key] = iso(utcnow() + dt.timedelta(hours=30))
        else:
            event[key] = value
    # No sent_at: the supplied timestamp is taken as it is (events.md §3.2 rule 4).
    body = {"api_key": p1.write_key, "batch": [event]}
    result = assert_posthog_ok(endpoint.post_json("/batch/", body), 0, 1)
    assert result["quarantine"][0]["index"] == 0
    assert result["quarantine"][0]["reason"] == reason
    entry = read1.quarantined_with(reason, marker)
    assert entry["detail"]


def test_non_object_array_element_is_malformed(endpoint, p1, read1):
    event = js_event(p1.write_key, unique_id("malformed"))
    result = assert_posthog_ok(
        endpoint.request("POST", "/e/", body=json.dumps([17, event]), headers=TEXT), 1, 1
    )
    entry = result["quarantine"][0]
    assert (entry["index"], entry["reason"]) == (0, "malformed_event")
    read1.event(event["uuid"])


# ---------------------------------------------------------------------------------------------
# Clock skew
# ---------------------------------------------------------------------------------------------


def test_sent_at_an_hour_ahead_moves_the_time_back(endpoint, p1, read1):
    skew = dt.timedelta(hours=1)
    client_now = utcnow() + skew                       # the client's clock is an hour fast
    stamped = client_now - dt.timedelta(seconds=10)    # the event happened 10 s before sending
    event = ph_event("skewed", unique_id("skew"), timestamp=iso(stamped))
    res = endpoint.post_json("/batch/", ph_envelope(p1.write_key, [event], sent_at=client_now))
    assert_posthog_ok(res, 1)
    assert_time_close(read1.event(event["uuid"])["timestamp"], stamped - skew)


# ---------------------------------------------------------------------------------------------
# Tokens on PostHog paths
# ---------------------------------------------------------------------------------------------


def test_no_token_is_401(endpoint):
    res = endpoint.post_json("/batch/", {"batch": [ph_event("no_token", "u-1")]})
    assert_posthog_error(res, 401, "missing_api_key", "authentication_error")


@pytest.mark.parametrize("token", ["phx_" + "a" * 40, "lcw_" + "z" * 32, "x" * 65, "  "])
def test_bad_tokens_are_401_invalid_api_key(endpoint, token):
    res = endpoint.post_json("/batch/", ph_envelope(token, [ph_event("bad_token", "u-1")]))
    assert_posthog_error(res, 401, "invalid_api_key", "authentication_error")


def test_read_and_admin_keys_are_refused_on_capture(server, endpoint, p1):
    for key in (p1.read_key, server.admin_key):
        res = endpoint.post_json("/batch/", ph_envelope(key, [ph_event("secret_key", "u-1")]))
        body = assert_posthog_error(res, 401, "invalid_api_key", "authentication_error")
        assert key[8:] not in json.dumps(body)  # the secret part is never echoed back


def test_two_tokens_in_one_batch_are_401(endpoint, p1, p2):
    user = unique_id("two-tokens")
    events = [js_event(p1.write_key, user), js_event(p2.write_key, user)]
    res = endpoint.request("POST", "/e/", body=json.dumps(events), headers=TEXT)
    assert_posthog_error(res, 401, "inconsistent_api_key", "authentication_error")


def test_envelope_api_key_wins_over_event_tokens(endpoint, p1, p2, read1, read2):
    event = js_event(p2.write_key, unique_id("envelope-wins"))
    res = endpoint.request("POST", "/e/", body=json.dumps(
        {"api_key": p1.write_key, "batch": [event], "sent_at": iso(utcnow())}), headers=TEXT)
    assert_posthog_ok(res, 1)
    read1.event(event["uuid"])
    assert read2.events(uuid=event["uuid"]) == []


# ---------------------------------------------------------------------------------------------
# Segment authentication and batches
# ---------------------------------------------------------------------------------------------


def segment_batch(*messages: dict, write_key: str | None = None) -> dict:
    body = {"batch": list(messages), "sentAt": iso(utcnow())}
    if write_key is not None:
        body["writeKey"] = write_key
    return body


def test_segment_basic_auth_only(endpoint, p1, read1, read2):
    msg = segment_track(unique_id("basic"))
    assert_segment_ok(endpoint.post_json("/v1/batch", segment_batch(msg),
                                         headers=basic_auth(p1.write_key)), 1)
    read1.event(msg["messageId"])
    assert read2.events(uuid=msg["messageId"]) == []


def test_segment_basic_auth_without_colon(endpoint, p1, read1):
    msg = segment_track(unique_id("basic-nocolon"))
    headers = basic_auth(p1.write_key, with_colon=False)
    assert_segment_ok(endpoint.post_json("/v1/batch", segment_batch(msg), headers=headers), 1)
    read1.event(msg["messageId"])


def test_segment_write_key_in_body_only(endpoint, p2, read1, read2):
    msg = segment_track(unique_id("writekey"))
    assert_segment_ok(endpoint.post_json("/v1/batch",
                                         segment_batch(msg, write_key=p2.write_key)), 1)
    read2.event(msg["messageId"])
    assert read1.events(uuid=msg["messageId"]) == []


def test_segment_bearer_is_ignored_when_body_has_write_key(endpoint, p2, read2):
    msg = segment_track(unique_id("bearer"))
    res = endpoint.post_json("/v1/batch", segment_batch(msg, write_key=p2.write_key),
                             headers=bearer("oauth-access-token"))
    assert_segment_ok(res, 1)
    read2.event(msg["messageId"])


def test_segment_basic_and_body_keys_must_agree(endpoint, p1, p2):
    res = endpoint.post_json("/v1/batch", segment_batch(segment_track("u-1"), write_key=p2.write_key),
                             headers=basic_auth(p1.write_key))
    assert_segment_error(res, 401, "inconsistent_write_key")


@pytest.mark.parametrize("case", ["none", "unknown", "bearer-only", "read-key"])
def test_segment_missing_or_wrong_key_is_401(endpoint, p1, case):
    headers = {"none": {}, "unknown": basic_auth("lcw_" + "q" * 32),
               "bearer-only": bearer("oauth-access-token"),
               "read-key": basic_auth(p1.read_key)}[case]
    res = endpoint.post_json("/v1/batch", segment_batch(segment_track("u-1")), headers=headers)
    assert_segment_error(res, 401)


def test_segment_items_with_missing_or_unknown_type_are_quarantined(endpoint, p2, read2):
    good = segment_track(unique_id("typed"))
    untyped = segment_track(unique_id("untyped"), properties={"marker": unique_id("untyped")})
    del untyped["type"]
    unknown = segment_track(unique_id("teleport"), type="teleport")
    res = endpoint.post_json("/v1/batch", segment_batch(good, untyped, unknown),
                             headers=basic_auth(p2.write_key))
    body = assert_segment_ok(res, 1, 2)
    assert [(q["index"], q["reason"]) for q in body["quarantine"]] == [
        (1, "invalid_segment_type"), (2, "invalid_segment_type")]
    read2.event(good["messageId"])
    read2.quarantined_with("invalid_segment_type", untyped["properties"]["marker"])


def test_segment_batch_context_is_merged_into_items(endpoint, p2, read2):
    msg = segment_track(unique_id("ctx"))
    del msg["context"]
    body = segment_batch(msg)
    body["context"] = {"app": {"name": "raw-suite"}, "library": {"name": "batch-lib", "version": "9"}}
    assert_segment_ok(endpoint.post_json("/v1/batch", body, headers=basic_auth(p2.write_key)), 1)
    props = read2.event(msg["messageId"])["properties"]
    assert props["$segment_context"]["app"] == {"name": "raw-suite"}
    assert (props["$lib"], props["$lib_version"]) == ("batch-lib", "9")
