"""Small HTTP helpers for the SDK suite: raw requests, capture payloads and liucun's read API.

Everything here uses the standard library only, so the raw-HTTP checks send exactly the bytes they
build. Every request has a timeout; nothing waits forever.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip as gzip_module
import http.client
import json
import re
import select
import socket
import time
import urllib.parse
import uuid as uuid_module
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Optional

# Key forms (ingest.md §7).
ADMIN_KEY = re.compile(r"lca_[0-9A-Za-z]{40}")
WRITE_KEY = re.compile(r"lcw_[0-9A-Za-z]{32}")
READ_KEY = re.compile(r"lcr_[0-9A-Za-z]{40}")

# Seconds allowed for any single HTTP exchange with the server under test.
HTTP_TIMEOUT = 10.0
# Seconds allowed for data acknowledged by the server to become visible through the read API.
READ_TIMEOUT = 10.0
# Stored event times must match what the client meant to within this many seconds.
TIME_TOLERANCE = dt.timedelta(seconds=2)


# ---------------------------------------------------------------------------------------------
# Raw HTTP
# ---------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; numbers with a fraction or exponent become exact `Decimal`s."""
        return json.loads(self.body, parse_float=Decimal)

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"<Response {self.status} {self.text[:500]!r}>"


@dataclass
class Endpoint:
    """Where the server under test listens."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> Response:
        """Send one request on a fresh connection and read the whole answer."""
        if query:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            res = conn.getresponse()
            return Response(res.status, res.headers, res.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post_json(
        self,
        path: str,
        payload: Any,
        headers: Optional[Mapping[str, str]] = None,
        **kwargs: Any,
    ) -> Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", path, body=json.dumps(payload), headers=all_headers, **kwargs)

    def post_oversized(
        self, path: str, size: int, headers: Mapping[str, str], timeout: float = 30.0
    ) -> int:
        """POST a body of `size` bytes and return the status line's code.

        A server may answer 413 as soon as it sees the Content-Length and stop reading, so the body
        is streamed in chunks and sending stops as soon as an answer arrives.
        """
        deadline = time.monotonic() + timeout
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                    f"Content-Length: {size}", "Connection: close"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("ascii"))
            chunk = b" " * (256 * 1024)
            sent = 0
            try:
                while sent < size and time.monotonic() < deadline:
                    readable, writable, _ = select.select([sock], [sock], [], 1.0)
                    if readable:
                        break  # the server has answered before reading everything
                    if writable:
                        sent += sock.send(chunk[: min(len(chunk), size - sent)])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server closed its side; its answer may still be buffered
            answer = b""
            try:
                while b"\r\n" not in answer and time.monotonic() < deadline:
                    part = sock.recv(4096)
                    if not part:
                        break
                    answer += part
            except ConnectionResetError:
                pass
            status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
            parts = status_line.split(" ")
            if len(parts) < 2 or not parts[1].isdigit():
                raise AssertionError(f"no HTTP status line in the answer: {answer[:200]!r}")
            return int(parts[1])
        finally:
            sock.close()


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------


def new_uuid() -> str:
    return str(uuid_module.uuid4())


def unique_id(prefix: str) -> str:
    """A distinct id no other test uses."""
    return f"{prefix}-{uuid_module.uuid4().hex[:12]}"


def iso(t: dt.datetime) -> str:
    """ISO 8601 with an explicit `+00:00`, as posthog-python writes it."""
    return t.astimezone(dt.timezone.utc).isoformat()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fixed_past_timestamp(days_ago: int = 3) -> dt.datetime:
    """A fixed time of day (08:15:00.250 UTC) `days_ago` days back: recent, yet clearly not now."""
    day = utcnow().date() - dt.timedelta(days=days_ago)
    return dt.datetime(day.year, day.month, day.day, 8, 15, 0, 250000, tzinfo=dt.timezone.utc)


def ph_event(event: str, distinct_id: Optional[str], **fields: Any) -> dict:
    """One PostHog event object with a fresh uuid unless `uuid` is given (`uuid=None` omits it)."""
    out: dict[str, Any] = {"event": event, "uuid": new_uuid(), "properties": {}}
    if distinct_id is not None:
        out["distinct_id"] = distinct_id
    out.update(fields)
    if out.get("uuid") is None:
        del out["uuid"]
    return out


def ph_envelope(token: Optional[str], events: list, sent_at: Optional[dt.datetime] = None) -> dict:
    """A posthog-python style body: `{api_key, batch, sent_at, historical_migration}`."""
    body: dict[str, Any] = {"batch": events, "historical_migration": False}
    if token is not None:
        body["api_key"] = token
    body["sent_at"] = iso(sent_at or utcnow())
    return body


def segment_track(user_id: Optional[str], event: str = "Raw Track", **fields: Any) -> dict:
    """One Segment `track` message shaped like segment-analytics-python's."""
    msg: dict[str, Any] = {
        "type": "track",
        "event": event,
        "userId": user_id,
        "anonymousId": None,
        "messageId": new_uuid(),
        "timestamp": utcnow().isoformat(timespec="milliseconds"),
        "properties": {},
        "context": {"library": {"name": "raw-http", "version": "1"}},
        "integrations": {},
    }
    msg.update(fields)
    return msg


def basic_auth(write_key: str, with_colon: bool = True) -> dict:
    user = f"{write_key}:" if with_colon else write_key
    return {"Authorization": "Basic " + base64.b64encode(user.encode()).decode()}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def gzip_json(payload: Any) -> bytes:
    return gzip_module.compress(json.dumps(payload).encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Checking answers
# ---------------------------------------------------------------------------------------------


def assert_posthog_ok(res: Response, accepted: int, quarantined: int = 0) -> dict:
    """A PostHog-path 200: `{"status": 1, "accepted", "quarantined", "quarantine": [...]}`."""
    assert res.status == 200, res
    body = res.json()
    assert body["status"] == 1, body
    assert (body["accepted"], body["quarantined"]) == (accepted, quarantined), body
    _check_quarantine_list(body, quarantined)
    return body


def assert_segment_ok(res: Response, accepted: int, quarantined: int = 0) -> dict:
    """A Segment-path 200: `{"success": true, "accepted", "quarantined", "quarantine": [...]}`."""
    assert res.status == 200, res
    body = res.json()
    assert body["success"] is True, body
    assert (body["accepted"], body["quarantined"]) == (accepted, quarantined), body
    _check_quarantine_list(body, quarantined)
    return body


def _check_quarantine_list(body: dict, quarantined: int) -> None:
    entries = body["quarantine"]
    assert isinstance(entries, list), body
    assert len(entries) == min(quarantined, 100), body
    for entry in entries:
        assert isinstance(entry["index"], int), entry
        assert isinstance(entry["reason"], str) and entry["reason"], entry
        assert isinstance(entry["detail"], str), entry


def assert_posthog_error(res: Response, status: int, code: str, kind: str) -> dict:
    """A PostHog-path error: `{"type", "code", "detail"}`."""
    assert res.status == status, res
    body = res.json()
    assert body["type"] == kind, body
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


def assert_segment_error(res: Response, status: int, code: Optional[str] = None) -> dict:
    """A Segment-path error: `{"code", "message"}`."""
    assert res.status == status, res
    body = res.json()
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["message"], str), body
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_api_error(res: Response, statuses: Iterable[int], code: Optional[str] = None) -> dict:
    """An /api error: `{"code", "message", "request_id"}`."""
    statuses = tuple(statuses)
    assert res.status in statuses, res
    body = res.json()
    for key in ("code", "message", "request_id"):
        assert isinstance(body.get(key), str) and body[key], body
    if code is not None:
        assert body["code"] == code, body
    return body


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 instant from the read API, such as `2025-04-01T08:15:00.250000Z`."""
    t = dt.datetime.fromisoformat(text)
    assert t.tzinfo is not None, f"timestamp without a zone: {text}"
    return t


def assert_time_close(actual: str, expected: dt.datetime, tolerance: dt.timedelta = TIME_TOLERANCE):
    t = parse_time(actual)
    assert abs(t - expected) <= tolerance, f"stored {t.isoformat()}, expected {expected.isoformat()}"


def raw_number_text(value: Any) -> str:
    """The JSON text a Python SDK writes for `value` (what the server must give back verbatim)."""
    return json.dumps(value)


def as_read(value: Any) -> Any:
    """`value` as the read API gives it back: floats become the Decimal of their JSON text."""
    if isinstance(value, float):
        return Decimal(raw_number_text(value))
    if isinstance(value, dict):
        return {k: as_read(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_read(v) for v in value]
    return value


def eventually(check: Callable[[], Any], timeout: float = READ_TIMEOUT, interval: float = 0.1) -> Any:
    """Run `check` until it returns without an AssertionError, and return its value.

    Acknowledged events are durable, but the read path may lag the ack slightly; this waits for
    that, never for a missing event.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# The read API of one project
# ---------------------------------------------------------------------------------------------


@dataclass
class Project:
    name: str
    write_key: str
    read_key: str
    created: dict = field(default_factory=dict)  # the admin API's answers, for shape checks


class ReadApi:
    """`/api/v1/projects/{p}/…` with a Bearer key."""

    def __init__(self, endpoint: Endpoint, project: str, key: str):
        self.endpoint = endpoint
        self.project = project
        self.key = key

    def _path(self, tail: str) -> str:
        return f"/api/v1/projects/{urllib.parse.quote(self.project, safe='')}/{tail}"

    def get(self, tail: str, **params: Any) -> Response:
        return self.endpoint.get(self._path(tail), headers=bearer(self.key), query=params or None)

    def events(self, **params: Any) -> list[dict]:
        res = self.get("events", **params)
        assert res.status == 200, res
        body = res.json()
        assert isinstance(body["events"], list) and isinstance(body["truncated"], bool), body
        return body["events"]

    def events_raw(self, **params: Any) -> Response:
        res = self.get("events", **params)
        assert res.status == 200, res
        return res

    def event(self, uuid: str) -> dict:
        """The one stored event with this uuid, waiting briefly for it to become readable."""

        def check() -> dict:
            found = self.events(uuid=uuid)
            assert len(found) == 1, f"uuid {uuid}: {len(found)} events in {self.project}: {found}"
            assert found[0]["uuid"] == uuid.lower(), found[0]
            return found[0]

        return eventually(check)

    def events_of(self, distinct_id: str, count: int) -> list[dict]:
        """The events of one distinct id, once `count` of them are readable."""

        def check() -> list[dict]:
            found = self.events(distinct_id=distinct_id)
            assert len(found) == count, f"{distinct_id}: {found}"
            return found

        return eventually(check)

    def person(self, distinct_id: str) -> Response:
        return self.endpoint.get(
            self._path(f"persons/{urllib.parse.quote(distinct_id, safe='')}"),
            headers=bearer(self.key),
        )

    def quarantine(self, reason: str) -> dict:
        res = self.get("quarantine", reason=reason)
        assert res.status == 200, res
        body = res.json()
        assert isinstance(body["entries"], list) and isinstance(body["total"], int), body
        return body

    def quarantined_with(self, reason: str, marker: str) -> dict:
        """The quarantine entry of `reason` whose raw bytes contain `marker`."""

        def check() -> dict:
            for entry in self.quarantine(reason)["entries"]:
                raw = entry["raw"]
                text = raw if isinstance(raw, str) else json.dumps(raw)
                if marker in text:
                    assert entry["reason"] == reason, entry
                    return entry
            raise AssertionError(f"no {reason} entry containing {marker!r}")

        return eventually(check)
