"""Slow clients against a real `scimgate serve`: half-sent heads and stalled bodies are cut
after their timeouts, connections above the limit get 503 + Retry-After, and the process
still answers once the slow ones are gone; X-Forwarded-Proto is trusted only from the proxy."""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scimgate.settings import Settings
from scimgate.web import server
from tests.helpers.ports import free_port
from tests.helpers.waits import STARTUP_SECONDS

HEADER_TIMEOUT = 2.0  # long enough to open the slow connections and ask while they last
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 50
PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


class Served:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    def connect(self, source: str | None = None) -> socket.socket:
        sock = socket.create_connection(
            ("127.0.0.1", self.port), timeout=5, source_address=(source, 0) if source else None
        )
        return sock

    def request(self, raw: bytes, source: str | None = None) -> bytes:
        """Send one request on a new connection (Connection: close); the whole answer."""
        with self.connect(source) as sock:
            sock.sendall(raw)
            return read_until_closed(sock, 5)[0]


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float | None]:
    """What arrives until the server closes (or `limit` seconds pass: then None)."""
    start = time.monotonic()
    data = b""
    while time.monotonic() - start < limit:
        sock.settimeout(max(0.01, limit - (time.monotonic() - start)))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk
    return data, None


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, the connection left open."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"!"
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536) or b"!"
    return data


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("slow_clients")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env.update(
        SCIMGATE_DATABASE_URL=f"sqlite:///{workdir / 'scimgate.db'}",
        SCIMGATE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SCIMGATE_SCHEDULER="false",
        SCIMGATE_WEBHOOKS="false",
        SCIMGATE_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        SCIMGATE_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        SCIMGATE_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    scimgate = [sys.executable, "-m", "scimgate"]
    subprocess.run([*scimgate, "migrate"], env=env, cwd=workdir, check=True, capture_output=True)
    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*scimgate, "serve", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    srv = Served(port, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                if status(srv.request(get("/healthz"))) == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text()
    # The only tracebacks: the console not expecting a client to vanish mid-form.
    assert text.count("Traceback") <= 2 * text.count("starlette.requests.ClientDisconnect"), text


def open_slow(srv: Served, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = srv.connect()
        sock.sendall(PARTIAL_HEAD)
        socks.append(sock)
    return socks


def dribble_until_closed(
    socks: list[socket.socket], limit: float
) -> dict[int, tuple[float, bytes]]:
    """Send a byte on each open socket every 0.2 s (slowloris); when each was closed, and what
    the server said first."""
    start = time.monotonic()
    closed: dict[int, tuple[float, bytes]] = {}
    for sock in socks:
        sock.setblocking(False)
    while len(closed) < len(socks) and time.monotonic() - start < limit:
        for i, sock in enumerate(socks):
            if i in closed:
                continue
            said = b""
            try:
                while chunk := sock.recv(4096):
                    said += chunk
                gone = True
            except BlockingIOError:
                gone = False
            except ConnectionResetError:
                gone = True
            if said or gone:
                closed[i] = (time.monotonic() - start, said)
                continue
            with contextlib.suppress(OSError):
                sock.send(b"x")
        time.sleep(0.2)
    for sock in socks:
        sock.close()
    return closed


@pytest.mark.slow
@pytest.mark.process
def test_slowloris_connections_are_cut_after_the_header_timeout(served: Served) -> None:
    socks = open_slow(served, 20)
    closed = dribble_until_closed(socks, HEADER_TIMEOUT + 5)
    assert len(closed) == 20
    times = [t for t, _ in closed.values()]
    assert min(times) >= HEADER_TIMEOUT - 0.3
    assert max(times) <= HEADER_TIMEOUT + 1.5
    assert all(said.startswith(b"HTTP/1.1 408 ") for _, said in closed.values())


@pytest.mark.process
def test_keep_alive_connection_must_send_its_next_head_in_time(served: Served) -> None:
    """uvicorn's keep-alive timer stops at the first byte; the header deadline does not."""
    with served.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status(read_response(sock)) == 200
        sock.sendall(PARTIAL_HEAD)
        closed = dribble_until_closed([sock], HEADER_TIMEOUT + 5)
    assert closed and HEADER_TIMEOUT - 0.3 <= closed[0][0] <= HEADER_TIMEOUT + 1.5


@pytest.mark.process
def test_connections_over_the_limit_get_503_and_service_resumes(served: Served) -> None:
    socks = open_slow(served, MAX_CONNECTIONS + 10)
    started = time.monotonic()
    answer = served.request(get("/healthz"))
    assert status(answer) == 503
    assert b"\r\nretry-after: " in answer.lower()
    # The slow connections beyond the limit were never answered and go too.
    closed = dribble_until_closed(socks, HEADER_TIMEOUT + 5)
    assert len(closed) == len(socks)
    assert time.monotonic() - started <= HEADER_TIMEOUT + 2
    assert status(served.request(get("/healthz"))) == 200


@pytest.mark.process
def test_stalled_body_is_cut(served: Served) -> None:
    head = (
        b"POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    with served.connect() as sock:
        sock.sendall(head + b"account=x")
        answer, after = read_until_closed(sock, BODY_TIMEOUT + 4)
    assert status(answer) == 408
    assert after is not None and BODY_TIMEOUT - 0.3 <= after <= BODY_TIMEOUT + 1.5


@pytest.mark.process
def test_slow_but_steady_body_is_not_cut(served: Served) -> None:
    """The body timeout is for a pause, not for the whole body."""
    body = b"account="
    head = (
        b"POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with served.connect() as sock:
        sock.sendall(head)
        for i in range(len(body)):
            sock.sendall(body[i : i + 1])
            time.sleep(BODY_TIMEOUT / 4)  # the whole body takes two body timeouts
        answer, _ = read_until_closed(sock, 5)
    assert status(answer) == 400  # read to the end, and refused for its content (no CSRF token)


@pytest.mark.process
def test_oversized_request_head_is_refused(served: Served) -> None:
    with served.connect() as sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 100_000)
        answer, after = read_until_closed(sock, 5)
    assert status(answer) in (400, 431) and after is not None


@pytest.mark.process
def test_x_forwarded_proto_is_trusted_from_the_proxy_only(served: Served) -> None:
    """The console's cookies are Secure when the request came over https."""
    ask = get("/console/login", "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.9")
    via_proxy = served.request(ask)
    assert status(via_proxy) == 200
    assert b"; secure" in via_proxy.lower()
    from_elsewhere = served.request(ask, source="127.0.0.2")
    assert status(from_elsewhere) == 200
    assert b"set-cookie: " in from_elsewhere.lower()
    assert b"; secure" not in from_elsewhere.lower()


def test_serve_config(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        header_timeout_seconds=3,
        body_timeout_seconds=4,
        keepalive_seconds=6,
        max_connections=10**9,
        forwarded_allow_ips="10.0.0.2",
    )
    monkeypatch.setattr(server, "fd_limit", lambda: 1000)
    config = server.build_config(settings, workers=2)
    assert config.limits.max_connections == 800  # clamped to 80% of the fds
    assert server.connection_limit(Settings(), 1000) == 800
    assert server.connection_limit(Settings(max_connections=50), 1000) == 50
    assert (config.limits.header_timeout, config.limits.body_timeout) == (3, 4)
    assert config.timeout_keep_alive == 6
    assert config.proxy_headers and config.forwarded_allow_ips == "10.0.0.2"
    assert config.http is server.PROTOCOL and config.h11_max_incomplete_event_size == 16384
    assert config.app == "scimgate.web.app:app_from_env" and config.factory
    assert pickle.loads(pickle.dumps(config)).limits == config.limits  # it goes to workers

    seen = {}

    def fake_run(config: server.ServeConfig) -> None:
        seen["config"] = config
        seen["workers"] = os.environ["SCIMGATE_WORKERS"]
        seen["dir"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        assert os.path.isdir(seen["dir"])

    monkeypatch.setattr(server, "run", fake_run)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("SCIMGATE_WORKERS", "1")  # restored afterwards
    server.serve(settings, host="127.0.0.1", port=1, workers=3)
    assert seen["workers"] == "3" and seen["config"].workers == 3
    assert not os.path.exists(seen["dir"])
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
