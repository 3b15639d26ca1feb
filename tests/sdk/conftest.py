"""Session fixtures: one `liucun serve` on a loopback port with a fresh data directory.

The binary comes from `LIUCUN_BIN` (default: the workspace's debug build). The session creates the
first admin key with the CLI, starts the server, waits for `/_readiness`, and creates projects p1
and p2 with a write token and a read key each through the admin API. At the end it sends SIGTERM
and requires a clean exit (code 0) within 30 seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from liucun_api import ADMIN_KEY, Endpoint, Project, bearer

# The SDKs read these; the suite exercises their defaults (capture v0 on /batch/, gzip by flag).
os.environ.pop("POSTHOG_CAPTURE_MODE", None)
os.environ.pop("POSTHOG_CAPTURE_COMPRESSION", None)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "debug" / "liucun"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
CLI_TIMEOUT = 30.0


@dataclass
class Server:
    endpoint: Endpoint
    admin_key: str
    binary: Path
    data_dir: Path
    log_path: Path
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run `liucun --data D ARGS…` against the running server's data directory."""
        return run_cli(self.binary, self.data_dir, *args)

    def admin_post(self, path: str, payload: dict):
        return self.endpoint.post_json(path, payload, headers=bearer(self.admin_key))

    def create_project(self, name: str) -> Project:
        """A project with one write token and one read key, created through the admin API."""
        made = self.admin_post("/api/v1/projects", {"name": name})
        assert made.status == 201, made
        write = self.admin_post("/api/v1/keys", {"project": name, "kind": "write"})
        assert write.status == 201, write
        read = self.admin_post("/api/v1/keys", {"project": name, "kind": "read"})
        assert read.status == 201, read
        return Project(
            name=name,
            write_key=write.json()["key"],
            read_key=read.json()["key"],
            created={"project": made.json(), "write": write.json(), "read": read.json()},
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def run_cli(binary: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), "--data", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def _wait_for_addr_file(path: Path, process: subprocess.Popen) -> Endpoint:
    """The server writes `127.0.0.1:PORT\\n` to the address file once it is listening."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"liucun serve exited with {process.returncode} before listening")
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        if text.endswith("\n"):
            host, _, port = text.strip().rpartition(":")
            return Endpoint(host, int(port))
        time.sleep(0.05)
    raise RuntimeError(f"no address in {path} after {START_TIMEOUT:.0f} s")


def _wait_for_readiness(endpoint: Endpoint, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"liucun serve exited with {process.returncode} while starting")
        try:
            res = endpoint.get("/_readiness", timeout=2.0)
            if res.status == 200:
                return
            last = f"{res.status} {res.text[:200]}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"/_readiness not 200 after {START_TIMEOUT:.0f} s: {last}")


def _stop(process: subprocess.Popen) -> int | None:
    """SIGTERM, then wait for a graceful exit; None when it had to be killed."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        return None


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = Path(os.environ.get("LIUCUN_BIN") or DEFAULT_BIN)
    if not os.access(binary, os.X_OK):
        pytest.exit(f"LIUCUN_BIN {binary} is not an executable file", returncode=2)

    root = tmp_path_factory.mktemp("liucun")
    data_dir = root / "data"
    addr_file = root / "addr"
    log_path = root / "serve.log"

    created = run_cli(binary, data_dir, "keys", "create-admin")
    assert created.returncode == 0, created.stderr
    admin_key = created.stdout.strip()
    assert ADMIN_KEY.fullmatch(admin_key), f"create-admin printed {created.stdout!r}"

    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "--data", str(data_dir), "serve",
             "--bind", "127.0.0.1:0", "--addr-file", str(addr_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    srv = None
    try:
        try:
            endpoint = _wait_for_addr_file(addr_file, process)
            assert endpoint.host == "127.0.0.1", endpoint
            _wait_for_readiness(endpoint, process)
        except (RuntimeError, AssertionError) as exc:
            raise RuntimeError(f"{exc}\nserver log:\n{log_path.read_text(errors='replace')}") from None
        srv = Server(endpoint, admin_key, binary, data_dir, log_path, process)
        yield srv
    finally:
        code = _stop(process)
        if srv is not None:
            # Graceful shutdown is part of what the suite proves; a failure here is reported as an
            # error in the teardown of the last test.
            assert code == 0, (
                f"liucun serve did not exit cleanly on SIGTERM (code {code}); log tail:\n"
                + srv.log_tail()
            )


@pytest.fixture(scope="session")
def p1(server: Server) -> Project:
    return server.create_project("p1")


@pytest.fixture(scope="session")
def p2(server: Server) -> Project:
    return server.create_project("p2")


@pytest.fixture(scope="session")
def endpoint(server: Server) -> Endpoint:
    return server.endpoint
