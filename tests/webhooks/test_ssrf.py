"""SSRF: addresses that reach a private network through an IPv6 form (NAT64, 6to4,
IPv4-compatible, Teredo), multicast or unspecified addresses are refused; a delivery
connects to the address it checked (a name that rebinds to 127.0.0.1 after the check
reaches nothing), with the hostname kept for the Host header, TLS SNI and certificate."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest

from scimgate.errors import InvalidValueError
from scimgate.store.database import utcnow
from scimgate.webhooks import delivery
from scimgate.webhooks.service import is_public
from tests.helpers.loops import run_async
from tests.helpers.webhooks import (
    Receiver,
    _handler,
    add_endpoint,
    add_members,
    delivery_log,
    verify,
)

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",  # reserved
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:10.0.0.1",  # IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
    "64:ff9b:1::808:808",  # local-use NAT64: refused whatever it carries
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001::1",
    "fe80::1",
    "fe80::1%1",
    "fc00::1",
    "fec0::1",  # site-local
    "ff02::1",  # multicast
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",  # documentation
    "100::1",  # discard
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 to 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address):
    assert is_public(address)


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::7f00:1", "::127.0.0.1", "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:3fff:fdd2"]
    + ["ff02::1", "::", "224.0.0.1", "100.64.0.1", "64:ff9b:1::808:808"],
)
def test_endpoint_urls_with_such_addresses_are_refused(scim, engine, address):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidValueError, match="private or local"):
        add_endpoint(engine, scim.slug, f"http://{host}/hook", allow_private=False)


def test_endpoint_urls_embedding_a_public_address_are_allowed(scim, engine):
    for host in ("[64:ff9b::808:808]", "[2002:808:808::1]", "[::ffff:8.8.8.8]"):
        add_endpoint(engine, scim.slug, f"https://{host}/hook", allow_private=False)


# ---- DNS rebinding -------------------------------------------------------------------------


class Dns:
    """`socket.getaddrinfo` with chosen answers for names under .test (others: the real one)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.then: dict[str, str] = {}  # after one answer, this one (a rebinding name)
        self.asked: list[str] = []
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.asked.append(name)
        answers = self.answers[name]
        if name in self.then:
            self.answers[name] = [self.then.pop(name)]
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port or 0)))
            for a in answers
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    resolver = Dns()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every TCP connection httpcore opens, by the host it was given. A name is resolved as
    the OS would (through `dns`); only loopback is reachable here: anything else fails at
    once, as an unreachable network would."""
    opened: list[str] = []
    original = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self: Any, host: str, port: int, *args: Any, **kw: Any) -> Any:
        opened.append(host)
        address = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0]
        if not address.startswith("127."):
            raise httpcore.ConnectError(f"network unreachable: {address}")
        return await original(self, address, port, *args, **kw)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    return opened


def test_a_name_rebinding_to_loopback_after_the_check_reaches_nothing(
    scim, engine, receiver, settings, make_deliverer, dns, connects
):
    dns.answers["rebind.test"] = ["8.8.8.8"]
    hook = add_endpoint(
        engine, scim.slug, f"http://rebind.test:{receiver.port}/hook", allow_private=False
    )
    add_members(engine, scim.account_id, "r", 1)
    dns.asked.clear()
    dns.then["rebind.test"] = "127.0.0.1"  # public when checked, loopback from then on
    strict = settings.model_copy(update={"webhook_retry_seconds": [60.0]})
    assert make_deliverer(settings=strict).tick() == 1
    assert receiver.requests == []
    assert connects == ["8.8.8.8"]  # the checked address, not the name
    assert dns.asked == ["rebind.test"]  # resolved once, for the check
    (attempt,) = delivery_log(engine, scim.slug, hook["id"])
    assert attempt["status_code"] is None and "8.8.8.8" in attempt["error"]


def test_a_name_that_resolves_to_loopback_at_delivery_is_refused(
    scim, engine, receiver, settings, make_deliverer, dns, connects
):
    dns.answers["turns.test"] = ["8.8.8.8"]
    hook = add_endpoint(
        engine, scim.slug, f"http://turns.test:{receiver.port}/hook", allow_private=False
    )
    add_members(engine, scim.account_id, "t", 1)
    dns.answers["turns.test"] = ["8.8.8.8", "127.0.0.1"]  # one private answer is enough
    strict = settings.model_copy(update={"webhook_retry_seconds": [60.0]})
    assert make_deliverer(settings=strict).tick() == 1
    assert receiver.requests == [] and connects == []
    (attempt,) = delivery_log(engine, scim.slug, hook["id"])
    assert "private" in attempt["error"]


def test_allowed_private_names_are_delivered_with_their_host_header_on_one_connection(
    scim, engine, receiver, make_deliverer, dns, connects
):
    dns.answers["hooks.test"] = ["127.0.0.1"]
    hook = add_endpoint(engine, scim.slug, f"http://hooks.test:{receiver.port}/h")
    add_members(engine, scim.account_id, "h", 5)
    deliverer = make_deliverer()
    while deliverer.tick():
        pass
    got = receiver.ok("/h")
    assert len(got) == 5
    assert {r.headers["host"] for r in got} == {f"hooks.test:{receiver.port}"}
    assert all(verify(hook["secret"], r.headers, r.body) for r in got)
    assert connects == ["127.0.0.1"]  # kept alive: one connection for five deliveries
    assert dns.asked == ["hooks.test"] * 6  # checked at adding and at each delivery


def test_the_backend_connects_only_where_the_delivery_checked():
    async def attempt() -> None:
        await delivery.PinnedBackend().connect_tcp("127.0.0.1", 9, timeout=1)

    with pytest.raises(httpcore.ConnectError, match="was not checked"):
        run_async(attempt)


# ---- TLS: SNI and the certificate name the host, not the address ---------------------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"]
        + ["-addext", f"subjectAltName=DNS:{name}"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, list[str], Path]]:
    """An HTTPS receiver on loopback with a certificate for tls.test; records SNI names."""
    cert, key = _certificate(tmp_path, "tls.test")
    names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    rec.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield rec, names, cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _event() -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "member.created",
        "created_at": utcnow(),
        "data": {"email": "a@example.com"},
        "seq": 1,
        "subject_id": 1,
    }


def _send(url: str, trusted: Path) -> delivery.Outcome:
    sender = delivery.Sender(5.0, verify=ssl.create_default_context(cafile=str(trusted)))
    try:
        return sender.send(url, "whsec_" + "A" * 32, _event(), "acme", allow_private=True)
    finally:
        sender.close()


def test_tls_names_the_host_while_connecting_to_the_checked_address(tls_receiver, dns, connects):
    rec, names, cert = tls_receiver
    dns.answers["tls.test"] = ["127.0.0.1"]
    outcome = _send(f"https://tls.test:{rec.port}/secure", cert)
    assert outcome.ok, outcome.error
    assert names == ["tls.test"] and connects == ["127.0.0.1"]
    assert rec.ok("/secure")[0].headers["host"] == f"tls.test:{rec.port}"


def test_a_certificate_for_another_name_is_refused(tls_receiver, dns):
    rec, _names, cert = tls_receiver  # trusted, but it names tls.test only
    dns.answers["wrong.test"] = ["127.0.0.1"]
    outcome = _send(f"https://wrong.test:{rec.port}/secure", cert)
    assert not outcome.ok and "Hostname mismatch" in (outcome.error or ""), outcome.error
    assert rec.requests == []
