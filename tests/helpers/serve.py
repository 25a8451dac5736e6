"""One real `scimgate serve` process with the webhook worker on, and the CLI with its env."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.ports import free_port
from tests.helpers.waits import STARTUP_SECONDS


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    """A serve process with the webhook worker on, loopback receivers allowed, fast ticks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env.update(
        SCIMGATE_DATABASE_URL=database_url,
        SCIMGATE_SCHEDULER="false",
        SCIMGATE_REQUEST_LOG_FLUSH_SECONDS="0.2",
        SCIMGATE_WEBHOOKS="true",
        SCIMGATE_WEBHOOKS_ALLOW_PRIVATE="true",
        SCIMGATE_WEBHOOK_INTERVAL_SECONDS="0.2",
        SCIMGATE_WEBHOOK_TIMEOUT_SECONDS="5",
    )
    env.update(extra)
    return env


class Serve:
    """One `scimgate serve` process (SIGTERM to stop), and the CLI with the same env."""

    def __init__(self, database_url: str, workdir: Path, name: str = "serve") -> None:
        self.env = serve_env(database_url)
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        self.env["SCIMGATE_PUBLIC_URL"] = f"http://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scimgate", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=2, trust_env=False) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    # Not left running for the rest of the session (a fixture that calls
                    # start() before its yield never gets to stop it).
                    self.proc.kill()
                    self.proc.wait(10)
                    raise RuntimeError(f"serve did not answer /healthz:\n{self.log()}")
                time.sleep(0.05)

    def stop(self) -> bool:
        """SIGTERM and wait; True when it shut down cleanly (uvicorn re-raises the signal
        after its graceful shutdown, so the status is -SIGTERM)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise
        return code in (0, -signal.SIGTERM) and self.log().rstrip().endswith(
            f"Finished server process [{self.proc.pid}]"
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "scimgate", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"scimgate {args}: {result.stdout}{result.stderr}"
        return result.stdout
