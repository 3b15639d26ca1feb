#!/usr/bin/env python3
"""Writes the seed corpus of the `capture` fuzz target to fuzz/corpus/capture/.

Each file is the 4-byte header that fuzz_targets/capture.rs decodes, then the query string, then the body:

    byte 0  path index into PATHS
    byte 1  Content-Type index into CONTENT_TYPES
    byte 2  Content-Encoding index into CONTENT_ENCODINGS
    byte 3  0 for no query string, else 1 + its length in bytes (at most 254)

The three tables below mirror the ones in capture.rs and must stay in the same order. The seeds are what the real
SDKs send (ingest.md §2.5 and §3.4) plus malformed bodies; the output is deterministic, so rerunning the script
after a change leaves the untouched files as they were.

    python3 fuzz/make_corpus.py
"""

import base64
import gzip
import json
import urllib.parse
from pathlib import Path

PATHS = [
    "batch",  # PostHog /batch, /i/v0/e
    "legacy",  # PostHog /e, /capture, /track
    "engage",  # PostHog /engage
    "ai",  # PostHog /i/v0/ai/batch
    "v1/batch",
    "v1/track",
    "v1/identify",
    "v1/page",
    "v1/screen",
    "v1/group",
    "v1/alias",
    "sa",  # Sensors /sa, /sa.gif
    "debug",  # Sensors /debug
]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/x-www-form-urlencoded; charset=UTF-8",
    " Application/X-WWW-Form-Urlencoded ",
]
CONTENT_ENCODINGS = [None, "gzip", "gzip-js", "base64", "b64", "lz64", "lz-string", "br", " GZIP "]

OUT = Path(__file__).resolve().parent / "corpus" / "capture"

TOKEN = "lcw_4kTq9ZbX2mNc7LpR0sVd3HfJ8yWg5AeU"
SENT_AT = "2025-06-15T15:06:39.118204+00:00"


def seed(name, path, body, content_type=None, encoding=None, query=None):
    """Writes one corpus file; `body` is bytes, a str, or a JSON value to encode compactly."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if isinstance(body, str):
        body = body.encode()
    q = b"" if query is None else query.encode()
    assert len(q) <= 254, f"{name}: the query is longer than 254 bytes"
    header = bytes(
        [
            PATHS.index(path),
            CONTENT_TYPES.index(content_type),
            CONTENT_ENCODINGS.index(encoding),
            0 if query is None else len(q) + 1,
        ]
    )
    (OUT / name).write_bytes(header + q + body)


def gz(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    # mtime=0 keeps the output byte-for-byte reproducible.
    return gzip.compress(data, compresslevel=6, mtime=0)


def b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.b64encode(data).decode()


def lz_base64(text):
    """LZ-string `compressToBase64`, as posthog-js's `lz64` compression sends it."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    units = [
        int.from_bytes(text.encode("utf-16-le")[i : i + 2], "little")
        for i in range(0, len(text.encode("utf-16-le")), 2)
    ]
    out = []
    state = {"val": 0, "pos": 0, "bits": 2, "enlarge": 2}

    def write(value, n):
        # Bits go out least significant first, packed 6 to a character, most significant first.
        for _ in range(n):
            state["val"] = (state["val"] << 1) | (value & 1)
            if state["pos"] == 5:
                out.append(alphabet[state["val"]])
                state["val"], state["pos"] = 0, 0
            else:
                state["pos"] += 1
            value >>= 1

    def shrink_budget():
        state["enlarge"] -= 1
        if state["enlarge"] == 0:
            state["enlarge"] = 1 << state["bits"]
            state["bits"] += 1

    dictionary, to_create, size = {}, set(), 3

    def emit(w):
        if w in to_create:
            c = w[0]
            if c < 256:
                write(0, state["bits"])
                write(c, 8)
            else:
                write(1, state["bits"])
                write(c, 16)
            shrink_budget()
            to_create.discard(w)
        else:
            write(dictionary[w], state["bits"])
        shrink_budget()

    w = ()
    for u in units:
        c = (u,)
        if c not in dictionary:
            dictionary[c] = size
            size += 1
            to_create.add(c)
        if w + c in dictionary:
            w = w + c
        else:
            emit(w)
            dictionary[w + c] = size
            size += 1
            w = c
    if w:
        emit(w)
    write(2, state["bits"])
    while True:
        state["val"] <<= 1
        if state["pos"] == 5:
            out.append(alphabet[state["val"]])
            break
        state["pos"] += 1
    return "".join(out) + "=" * (-len(out) % 4)


def lz_repeating(n):
    """LZ-string base64 of `a` then `n` codes that each name the entry being defined: n²/2 units of output."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    bits = []

    def put(value, width):
        bits.extend((value >> i) & 1 for i in range(width))

    put(0, 2)
    put(ord("a"), 8)
    size, width, enlarge = 4, 3, 4
    for _ in range(n):
        put(size, width)
        size += 1
        enlarge -= 1
        if enlarge == 0:
            enlarge, width = 1 << width, width + 1
    put(2, width)
    bits.extend([0] * (-len(bits) % 6))
    return "".join(alphabet[int("".join(map(str, bits[i : i + 6])), 2)] for i in range(0, len(bits), 6))


def posthog_python_event(event, distinct_id, ts, uuid, **props):
    return {
        "event": event,
        "distinct_id": distinct_id,
        "uuid": uuid,
        "timestamp": ts,
        "properties": {"$lib": "posthog-python", "$lib_version": "7.91.1", "$is_server": True, **props},
    }


def posthog_js_event(event, offset, **props):
    return {
        "event": event,
        "offset": offset,
        "properties": {
            "token": TOKEN,
            "distinct_id": "0195f0c2-7d3e-7a41-9c55-2b8e4f1a6d90",
            "$lib": "web",
            "$lib_version": "1.200.0",
            "$current_url": "https://app.example/chat",
            **props,
        },
    }


def segment_item(ty, **fields):
    return {
        "type": ty,
        "userId": "u-42",
        "anonymousId": "a-9c1",
        "messageId": "0d2f6c1e-5b7a-4e3d-9f21-8c4b6a0e1d37",
        "timestamp": "2025-06-15T15:06:30.250+00:00",
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        "integrations": {},
        **fields,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()

    # PostHog: what the SDKs send.
    python_batch = {
        "batch": [
            posthog_python_event(
                "chat_sent",
                "u-42",
                "2025-06-15T15:06:30+00:00",
                "6b0e2f5c-93d4-4c1e-8a77-0c2d9f1e4b10",
                model_tier="pro",
            ),
            {
                "event": "$set",
                "distinct_id": "u-42",
                "uuid": "8f7e6d5c-4b3a-4921-8a1b-0c9d8e7f6a5b",
                "timestamp": "2025-06-15T15:06:31+00:00",
                "$set": {"plan": "pro"},
                "properties": {"$lib": "posthog-python"},
            },
            {
                "event": "$create_alias",
                "distinct_id": "anon-7",
                "properties": {"alias": "u-42", "$lib": "posthog-python"},
                "timestamp": "2025-06-15T15:06:32+00:00",
            },
        ],
        "historical_migration": False,
        "sent_at": SENT_AT,
        "api_key": TOKEN,
    }
    seed("posthog-python-batch", "batch", python_batch, "application/json")
    seed("posthog-python-batch-gzip", "batch", gz(python_batch), "application/json", "gzip")
    seed(
        "posthog-python-historical",
        "batch",
        {**python_batch, "historical_migration": True, "sent_at": None},
        "application/json",
    )
    seed(
        "posthog-python-ai",
        "ai",
        {
            "api_key": TOKEN,
            "sent_at": SENT_AT,
            "historical_migration": False,
            "batch": [
                posthog_python_event(
                    "$ai_generation",
                    "u-42",
                    "2025-06-15T15:06:30+00:00",
                    "0f1e2d3c-4b5a-4697-8877-665544332211",
                    **{
                        "$ai_model": "gpt-4o-mini",
                        "$ai_provider": "openai",
                        "$ai_input_tokens": 1200,
                        "$ai_output_tokens": "345",
                        "$ai_cache_read_input_tokens": 0,
                        "$ai_total_cost_usd": 0.000387,
                    },
                )
            ],
        },
        "application/json",
    )
    seed(
        "posthog-python-no-distinct-id",
        "batch",
        {
            "api_key": TOKEN,
            "batch": [
                {
                    "event": "signup",
                    "distinct_id": "4d3c2b1a-0f9e-4d8c-b7a6-958473625140",
                    "properties": {"$process_person_profile": False},
                }
            ],
        },
    )
    legacy_array = [
        posthog_js_event("$pageview", 1520),
        posthog_js_event("$autocapture", 830, **{"$event_type": "click"}),
        posthog_js_event("$pageleave", 0.5),
    ]
    legacy_query = "_=1750000000000&ver=1.200.0&compression=gzip-js"
    seed("posthog-js-legacy-array-gzip", "legacy", gz(legacy_array), "text/plain", query=legacy_query)
    seed("posthog-js-legacy-array", "legacy", legacy_array, "text/plain", query="_=1750000000000&ver=1.200.0")
    seed(
        "posthog-js-legacy-single",
        "legacy",
        {**posthog_js_event("$pageview", None), "timestamp": "2025-06-15T15:06:39.500Z"},
        "application/json",
    )
    seed(
        "posthog-js-current-envelope-gzip",
        "legacy",
        gz({"api_key": TOKEN, "sent_at": "2025-06-15T15:06:39.900Z", "batch": legacy_array}),
        "text/plain",
        query="ver=1.250.0&_=1750000000000",
    )
    form_b64 = b64([posthog_js_event("$pageleave", 12, note=">>>?>?")])
    seed(
        "posthog-js-form-data-base64",
        "legacy",
        "data=" + urllib.parse.quote(form_b64, safe="+"),
        "application/x-www-form-urlencoded",
        query="compression=base64&ver=1.200.0",
    )
    seed(
        "posthog-js-form-data-lz64",
        "legacy",
        "compression=lz64&data=" + urllib.parse.quote(lz_base64(json.dumps(legacy_array[:1])), safe=""),
        "application/x-www-form-urlencoded; charset=UTF-8",
    )
    lz_event = lz_base64(json.dumps({"event": "e", "properties": {"token": TOKEN, "distinct_id": "u"}}))
    assert not lz_event.endswith("==="), "this seed is for a payload that also looks like plain base64"
    seed(
        "posthog-js-query-lz64",
        "legacy",
        b"",
        query="compression=lz64&data=" + urllib.parse.quote(lz_event, safe=""),
    )
    seed("posthog-raw-base64", "batch", b64(python_batch["batch"][:1]), "application/json")
    seed(
        "posthog-legacy-double-base64",
        "legacy",
        b64(b64({"event": "e", "distinct_id": "u", "token": TOKEN}).encode()),
        "text/plain",
    )
    seed(
        "posthog-get-query-data",
        "legacy",
        b"",
        query="data=" + urllib.parse.quote(b64({"event": "beacon", "distinct_id": "u-1", "token": TOKEN}))
        + "&beacon=1",
    )
    seed(
        "posthog-engage",
        "engage",
        {"$token": TOKEN, "$distinct_id": "u-42", "$set": {"email": "ada@example.com"}, "$set_once": {"first": 1}},
        "application/json",
    )
    seed("posthog-gzip-sniffed", "batch", gz({"event": "x", "distinct_id": "u", "api_key": TOKEN}))
    seed(
        "posthog-skew-and-offsets",
        "batch",
        {
            "api_key": TOKEN,
            "sent_at": "2025-06-15T16:06:40Z",
            "batch": [
                {"event": "a", "distinct_id": "u", "timestamp": "2025-06-15T16:06:30Z"},
                {"event": "b", "distinct_id": "u", "offset": 1500},
                {"event": "c", "distinct_id": "u", "timestamp": 1749999990},
                {"event": "d", "distinct_id": 42, "timestamp": "2025-06-15 15:00:00.123456789+0130"},
                {"event": "e", "distinct_id": "u", "timestamp": "2025-06-15", "properties": {"$ignore_sent_at": True}},
            ],
        },
    )
    seed(
        "posthog-payment",
        "batch",
        {
            "api_key": TOKEN,
            "batch": [
                {
                    "event": "payment",
                    "distinct_id": "u-42",
                    "properties": {"amount": "19.99", "currency": "USD", "kind": "charge", "external_id": "ch_1"},
                }
            ],
        },
    )

    # Segment: what the SDKs send.
    segment_batch = {
        "batch": [
            segment_item("track", event="Report Exported", properties={"format": "pdf"}),
            segment_item("identify", traits={"email": "ada@example.com"}),
            segment_item("page", name="Home", properties={"url": "https://app.example/"}),
            segment_item("alias", previousId="a-9c1", anonymousId=None),
            segment_item("group", groupId="org-1", traits={"name": "Example"}),
            segment_item("screen", name="Settings", userId=None),
        ],
        "sentAt": "2025-06-15T15:06:39.000+00:00",
        "writeKey": TOKEN,
    }
    seed("segment-python-batch", "v1/batch", segment_batch, "application/json")
    seed("segment-python-batch-gzip", "v1/batch", gz(segment_batch), "application/json", "gzip")
    seed(
        "segment-legacy-batch-shared-context",
        "v1/batch",
        {
            "batch": [{"type": "track", "event": "E", "userId": "u", "context": {"ip": "0.0.0.0"}}, {"event": "no type"}],
            "context": {"library": {"name": "analytics-python", "version": "1.4.post1"}},
            "integrations": {"All": True},
            "sentAt": "2025-06-15T15:06:40Z",
        },
    )
    for ty, extra in [
        ("track", {"event": "Signed Up", "properties": {"plan": "pro"}}),
        ("identify", {"traits": {"name": "Ada"}}),
        ("page", {"name": "Pricing", "category": "Docs", "properties": {"url": "https://example.com/p"}}),
        ("screen", {"name": "Home"}),
        ("group", {"groupId": 7, "traits": {"seats": 12}}),
        ("alias", {"previousId": "a-9c1"}),
    ]:
        seed(f"segment-{ty}", f"v1/{ty}", {**segment_item(ty, **extra), "writeKey": TOKEN}, "application/json")

    # Malformed bodies.
    python_gz = gz(python_batch)
    seed("bad-truncated-gzip", "batch", python_gz[: len(python_gz) // 2], "application/json", "gzip")
    seed("bad-truncated-gzip-segment", "v1/batch", gz(segment_batch)[:40], None, " GZIP ")
    seed("bad-gzip-hint-plain-body", "batch", python_batch, "application/json", "gzip-js")
    seed("bad-invalid-utf8", "batch", b'{"event":"\xff\xfe","distinct_id":"u","api_key":"t"}')
    seed("bad-invalid-utf8-segment", "v1/track", b'{"event":"caf\xc3","userId":"u"}')
    seed("bad-deep-nesting", "batch", "[" * 200 + "]" * 200)
    seed(
        "bad-deep-properties",
        "batch",
        '{"api_key":"t","batch":[{"event":"e","distinct_id":"u","properties":{"a":'
        + "[" * 70
        + "]" * 70
        + "}}]}",
    )
    seed(
        "bad-wrong-types",
        "batch",
        {
            "api_key": TOKEN,
            "batch": [
                7,
                "event",
                None,
                {"event": 5, "distinct_id": "u"},
                {"event": "e", "distinct_id": {"id": 1}},
                {"event": "e", "distinct_id": "u", "properties": []},
                {"event": "e", "distinct_id": "u", "timestamp": True},
                {"event": "e", "distinct_id": "u", "uuid": 12},
                {"event": "e", "distinct_id": "u", "$set": "x"},
                {"event": "e", "distinct_id": "u", "offset": "soon"},
                {"event": "e", "distinct_id": "u", "properties": {"$cookieless_mode": "yes"}},
                {"event": "$performance_event", "distinct_id": "u"},
            ],
        },
    )
    seed("bad-batch-not-array", "batch", {"api_key": TOKEN, "batch": "[]"})
    seed("bad-segment-batch-not-array", "v1/batch", {"writeKey": TOKEN, "batch": {}})
    seed("bad-segment-not-object", "v1/track", [{"type": "track"}])
    seed("bad-token-number", "batch", {"api_key": 12345, "batch": []})
    seed("bad-token-personal", "v1/batch", {"writeKey": "phx_abc", "batch": []})
    seed("bad-token-long", "legacy", {"event": "e", "distinct_id": "u", "token": "t" * 65})
    seed(
        "bad-token-inconsistent",
        "legacy",
        [{"event": "a", "properties": {"token": "t1", "distinct_id": "u"}}, {"event": "b", "$token": "t2", "distinct_id": "u"}],
    )
    seed(
        "bad-huge-numbers",
        "batch",
        '{"api_key":"t","sent_at":1e400,"batch":['
        '{"event":"a","distinct_id":1e999,"offset":1e300},'
        '{"event":"b","distinct_id":"u","timestamp":99999999999999999999999999999},'
        '{"event":"c","distinct_id":"u","timestamp":-9223372036854775809},'
        '{"event":"d","distinct_id":"u","offset":-1e12},'
        '{"event":"e","distinct_id":123456789012345678901234567890,"properties":{"$ai_input_tokens":1e30,'
        '"$ai_total_cost_usd":-0.0000000000000000001}},'
        '{"event":"payment","distinct_id":"u","properties":{"amount":1e308,"currency":"USD"}}]}',
    )
    seed(
        "bad-times",
        "batch",
        {
            "api_key": TOKEN,
            "sent_at": "2025-06-15T14:06:40Z",
            "batch": [
                {"event": "old", "distinct_id": "u", "timestamp": "1999-12-31T23:59:59Z"},
                {"event": "future", "distinct_id": "u", "timestamp": "2025-06-17T00:00:00Z"},
                {"event": "bad", "distinct_id": "u", "timestamp": "2025-02-30T00:00:00Z"},
                {"event": "zone", "distinct_id": "u", "timestamp": "2025-06-15T15:00:00+99:99"},
            ],
        },
        query="sent_at=1750000000000",
    )
    seed(
        "bad-ids",
        "batch",
        {
            "api_key": TOKEN,
            "batch": [
                {"event": "e", "distinct_id": "  "},
                {"event": "e", "distinct_id": "undefined"},
                {"event": "e", "distinct_id": "'null'"},
                {"event": "e", "distinct_id": "x" * 201},
                {"event": "é" * 201, "distinct_id": "u"},
                {"event": " ", "distinct_id": "u"},
                {"event": "e", "distinct_id": "a\u0000b"},
            ],
        },
    )
    seed("bad-empty", "batch", b"")
    seed("bad-whitespace", "v1/batch", b" \r\n\t")
    seed("bad-json-null", "legacy", b"null")
    seed("bad-base64-garbage", "batch", b"AAAA////", None, "base64")
    seed("bad-lz64-garbage", "legacy", b"data=%2F%2F%2F%2F", "application/x-www-form-urlencoded", "lz64")
    seed(
        "bad-lz64-quadratic",
        "legacy",
        "data=" + lz_repeating(300),
        "application/x-www-form-urlencoded",
        "lz-string",
    )
    seed("bad-form-no-field", "legacy", b"just text", "application/x-www-form-urlencoded")
    seed("bad-form-invalid-utf8", "legacy", b"data=\xff", "application/x-www-form-urlencoded")
    seed("bad-query-invalid-percent", "legacy", b"", query="data=%E0%A4%A&compression=%FF")

    # Sensors Data (ingest-sensors.md §3): form fields in the body or the query, base64 with or without gzip.
    sa_track = {"type": "track", "event": "ChatSent", "distinct_id": "u-42", "time": 1750000000000,
                "_track_id": 7, "_flush_time": 1750000000100, "properties": {"$lib": "js", "$url": "http://x/"},
                "lib": {"$lib": "js", "$lib_version": "1.27.11"}}
    sa_bind = {"type": "track_id_bind", "event": "$BindID", "distinct_id": "c-1", "time": 1750000000000,
               "identities": {"$identity_login_id": "u-42", "$identity_mobile": "138", "$identity_cookie_id": "c-1"}}
    sa_profile = {"type": "profile_increment", "distinct_id": "u-42", "time": 1750000000000,
                  "properties": {"chats": 3, "$is_login_id": True}}
    sa_form = "application/x-www-form-urlencoded"
    sa_q = "project=" + TOKEN
    seed("sa-data-gzip", "sa", "data=" + urllib.parse.quote(b64(gz(sa_track)), safe="") + "&gzip=1", sa_form, query=sa_q)
    seed("sa-data-list", "sa", "data_list=" + b64([sa_track, sa_bind, sa_profile]), "text/plain", query=sa_q)
    seed("sa-image-query", "sa", b"", query="data=" + b64(sa_track)[:200])
    seed("sa-crc", "sa", "crc=-1&gzip=1&data_list=" + urllib.parse.quote(b64(gz([sa_bind])), safe=""), sa_form, query=sa_q)
    seed("sa-debug", "debug", "data=" + b64(sa_profile), sa_form)
    seed("sa-encrypted", "sa", "gzip=9&data_list=%7B%22ekey%22%3A1%7D", sa_form, query=sa_q)
    seed("sa-both", "sa", "data=e30&data_list=W10", sa_form)


if __name__ == "__main__":
    main()
