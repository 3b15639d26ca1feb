"""Test stand-in for a ClickHouse server's HTTP interface, backed by chDB.

The ClickHouse equality tests talk to this server instead of a real ClickHouse
server. Every query runs in the real ClickHouse engine, embedded in chDB
(requirements.txt pins the version), on one persistent chDB session whose data
lives in the --path directory. It is not for production: one lock serialises
every query, there is no authentication, and only the part of the HTTP
interface (https://clickhouse.com/docs/interfaces/http) a client needs is here:

  GET /ping, GET / (no query)     -> "Ok.\\n"
  GET|POST /?query=SQL            -> the request body, if any, follows SQL after
                                     a newline; for INSERT ... FORMAT X it is
                                     the data, read from a temporary file
  POST / with the SQL as body
  param_NAME=VALUE                -> query parameter {NAME:Type}, VALUE already
                                     in ClickHouse's escaped text form
  database=NAME                   -> default database of the query
  default_format=FMT              -> output format when the query has no FORMAT
                                     clause (TabSeparated if not given)
  Content-Encoding: gzip|deflate  -> compressed request body
  enable_http_compression=1       -> gzip the response if Accept-Encoding allows
  user, password, X-ClickHouse-User/Key, basic auth -> accepted and ignored

Errors answer 500 with ClickHouse's message and X-ClickHouse-Exception-Code.

Usage: python chdb_server.py --port 0 --path DIR [--port-file FILE]
"""

import argparse
import gzip
import os
import re
import signal
import sys
import tempfile
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import chdb.session

# `INSERT INTO t [(columns)] FORMAT name` with nothing after the format: its data is the request body.
INSERT_DATA = re.compile(r"^\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE | re.DOTALL)

LOCK = threading.Lock()
SESSION = None  # the one chdb.session.Session, set in main()


def run(sql: bytes, params: dict, database: str, fmt: str) -> bytes:
    """Run one statement; a FORMAT clause in sql overrides fmt (chDB does that)."""
    with LOCK:
        SESSION.query("USE " + (database or "default"), "TabSeparated")
        res = SESSION.query(sql, fmt, params=params)  # bytes pass through unchanged
    return b"" if res is None else res.bytes()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has Content-Length

    def do_GET(self):
        self.handle_query()

    def do_POST(self):
        self.handle_query()

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        return bytes(body)

    def handle_query(self):
        url = urlsplit(self.path)
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = self.read_body()
        except Exception as e:  # bad chunking or compression
            return self.answer(400, f"Code: 0. Bad request body: {e}\n".encode())
        if url.path == "/ping" or ("query" not in args and not body):
            return self.answer(200, b"Ok.\n")
        sql = body
        infile = None
        if "query" in args:
            query = args["query"]
            insert = INSERT_DATA.match(query)
            if insert and body:
                # The data of an INSERT travels beside its statement, as ClickHouse's HTTP interface reads it:
                # chDB mangles binary data (RowBinary) written after the statement's text.
                fd, infile = tempfile.mkstemp(prefix="insert-", suffix=".data")
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                sql = f"{insert.group(1)} FROM INFILE '{infile}' FORMAT {insert.group(2)}".encode()
            else:
                sql = query.encode() + (b"\n" + body if body else b"")
        params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
        database = args.get("database") or self.headers.get("X-ClickHouse-Database")
        fmt = args.get("default_format") or "TabSeparated"
        try:
            out = run(sql, params, database, fmt)
        except Exception as e:
            msg = str(e).rstrip("\n")
            code = re.match(r"Code: (\d+)\.", msg)
            headers = {"X-ClickHouse-Exception-Code": code.group(1) if code else "1001"}
            return self.answer(500, msg.encode() + b"\n", headers)
        finally:
            if infile:
                os.unlink(infile)
        self.answer(200, out)

    def answer(self, status: int, body: bytes, headers: dict = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        args = dict(parse_qsl(urlsplit(self.path).query))
        if (status == 200 and args.get("enable_http_compression") == "1"
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # errors reach the client; keep the tests' output quiet


def main():
    global SESSION
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--path", help="chDB data directory (default: a fresh temp dir)")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    opts = ap.parse_args()
    path = opts.path or tempfile.mkdtemp(prefix="chdb_server_")
    os.makedirs(path, exist_ok=True)
    SESSION = chdb.session.Session(path)
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if opts.port_file:
        tmp = f"{opts.port_file}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, opts.port_file)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        with LOCK:
            SESSION.close()


if __name__ == "__main__":
    main()
