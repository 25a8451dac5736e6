#!/usr/bin/env python3
"""Webhook delivery rate: N member events delivered to one loopback receiver (HTTP/1.1,
204 answers), by one Deliverer, on SQLite. Measures the delivery loop itself: signing,
the POST, and the transaction that logs each success and moves the cursor.

    .venv/bin/python benchmarks/bench_webhooks.py [--events 2000]

Writes benchmarks/results/webhooks-latest.{md,json}.
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


class _Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        type(self).count += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    from scimgate.accounts import service as accounts
    from scimgate.members import service as members
    from scimgate.settings import Settings
    from scimgate.store.database import make_engine, migrate
    from scimgate.webhooks import service as webhooks
    from scimgate.webhooks.delivery import Deliverer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--out", default=str(HERE / "results" / "webhooks-latest"))
    a = parser.parse_args()
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'wh.db'}"
    migrate(url)
    engine = make_engine(url)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(database_url=url, webhooks_allow_private=True)
    with engine.begin() as conn:
        account = accounts.create_account(conn, "bench")
        webhooks.add_endpoint(
            conn, account["id"], f"http://127.0.0.1:{server.server_port}/hook", allow_private=True
        )
        for i in range(a.events):
            members.add_member(conn, account["id"], f"m{i}@bench.example")
    deliverer = Deliverer(engine, settings)
    started = time.perf_counter()
    while _Receiver.count < a.events:
        deliverer.tick()
    seconds = time.perf_counter() - started
    deliverer.close()
    doc = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "events": a.events,
        "seconds": round(seconds, 2),
        "per_second": round(a.events / seconds),
        "ms_per_delivery": round(seconds * 1000 / a.events, 2),
    }
    Path(a.out + ".json").write_text(json.dumps(doc, indent=2) + "\n")
    text = (
        "# Webhook delivery rate\n\n"
        f"{doc['when']} · SQLite · one Deliverer, one loopback receiver (HTTP/1.1 keep-alive)\n\n"
        f"{doc['events']:,} events delivered in order in {doc['seconds']} s: "
        f"**{doc['per_second']:,}/s** ({doc['ms_per_delivery']} ms each: sign, POST, log + cursor).\n"
    )
    Path(a.out + ".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
