"""`serve --workers 2`: rate limits hold across the workers, and /metrics adds them up."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.ports import free_port
from tests.helpers.serve import serve_env
from tests.helpers.waits import STARTUP_SECONDS

pytestmark = pytest.mark.process


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = serve_env(
        database_url,
        SCIMGATE_WEBHOOKS="false",
        SCIMGATE_SCIM_RATE_PER_SECOND="10",
        SCIMGATE_SCIM_RATE_BURST="10",
        SCIMGATE_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimgate", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.slow
def test_rate_limit_holds_across_two_workers_and_metrics_add_up(
    two_workers: str, make_account: Any
) -> None:
    _, token, _ = make_account("shared")
    headers = {"Authorization": f"Bearer {token}"}
    statuses = []
    started = time.monotonic()
    for _ in range(60):  # a new connection each time: the kernel spreads them over both
        with httpx.Client(trust_env=False, timeout=10) as client:
            statuses.append(client.get(two_workers + "/scim/v2/Users", headers=headers).status_code)
    elapsed = time.monotonic() - started
    accepted = statuses.count(200)
    assert set(statuses) <= {200, 429}
    # 10 of burst and 10 a second for the whole server, whichever worker answers.
    assert accepted <= 10 + 10 * elapsed + 2, (accepted, elapsed)
    assert statuses.count(429) > 0
    scrape = httpx.get(two_workers + "/metrics", trust_env=False, timeout=10).text
    answered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in scrape.splitlines()
        if line.startswith("scimgate_http_requests_total{") and 'surface="scim"' in line
    )
    assert answered == 60, scrape[:2000]
