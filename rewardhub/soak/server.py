"""gunicorn with the production config (`rewardhub/gunicorn.conf.py`) on a free 127.0.0.1 port, against the
database the test process uses."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

GUNICORN = Path(sys.executable).parent / "gunicorn"
CONFIG = Path(settings.BASE_DIR) / "rewardhub" / "gunicorn.conf.py"
START_SECONDS = 30


@dataclass(frozen=True)
class LiveServer:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The master's children: its workers (gunicorn starts no other processes)."""
        output = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in output.split()]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def database_url(*, host: str | None = None, port: int | None = None) -> str:
    """The URL of the database this process is connected to (pytest-django's test database), or of the same
    database through another server (a pooler at `host`:`port`)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    name = quote(db["NAME"], safe="")
    socket_dir = db["OPTIONS"].get("host")  # the embedded server (rewardhub.embedded_db) listens on a socket
    if socket_dir and host is None:
        return f"postgres://{credentials}@/{name}?host={quote(socket_dir)}"
    return f"postgres://{credentials}@{host or db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{name}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn_server(*, workers: int = 2, environ: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Started and stopped around the block, with `environ` added to its environment (e.g. short timeouts); the
    error log is kept in a temporary file for failures."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkstemp(prefix="rewardhub-soak-gunicorn-", suffix=".log")[1])
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "PUBLIC_BASE_URL": base_url,  # BitLabs signs the public URL; the clients sign this one
        "DEBUG": "false",
        # All clients share 127.0.0.1 and the mixed load sends wrong secrets on purpose: the failed-auth
        # throttle (tested on its own in rewardhub/tests) would turn the rest of the run into 429s.
        "AUTH_FAILURE_LIMIT": "1000000000",
        **(environ or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(CONFIG)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(process, base_url, log_path)
    try:
        wait_until_healthy(server, START_SECONDS)
        yield server
    finally:
        stop(process)


def wait_until_healthy(server: LiveServer, seconds: float) -> float:
    """Seconds until /healthz answered 200; raises with the server's log if it never does."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=2) as response:  # noqa: S310 - local
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:  # refused, reset, or an HTTP error status (HTTPError is an OSError)
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not become healthy within {seconds}s:\n{server.log_tail()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
