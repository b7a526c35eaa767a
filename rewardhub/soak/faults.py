"""Faults injected while load runs: gunicorn workers killed with SIGKILL (the master starts new ones) and
PostgreSQL restarted with pg_ctlcluster. Needs root and a Debian-style PostgreSQL cluster (`main`)."""

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rewardhub.soak.figures import FIGURES
from rewardhub.soak.server import LiveServer, wait_until_healthy

POSTGRES_CONFIG = Path("/etc/postgresql")
RECOVERY_SECONDS = 60  # bound on waiting for PostgreSQL or gunicorn workers to come back


def unavailable_reason() -> str | None:
    """Why faults cannot be injected here, or None when they can."""
    if os.geteuid() != 0:
        return "restarting PostgreSQL needs root (pg_ctlcluster); run `make soak` as root, as CI does"
    if shutil.which("pg_ctlcluster") is None or not postgres_version():
        return "restarting PostgreSQL needs pg_ctlcluster and a cluster under /etc/postgresql"
    return None


def postgres_version() -> str | None:
    versions = sorted(path.name for path in POSTGRES_CONFIG.iterdir()) if POSTGRES_CONFIG.is_dir() else []
    return versions[0] if versions else None


def restart_postgres() -> None:
    """A fast restart: open connections are cut (every gunicorn thread's connection dies with them)."""
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "--mode=fast", postgres_version(), "main", "restart"],
        check=True,
        capture_output=True,
        timeout=RECOVERY_SECONDS,
    )


def kill_workers(server: LiveServer, count: int) -> int:
    """SIGKILL `count` of the master's workers: requests they were serving get no answer."""
    killed = 0
    for pid in server.worker_pids()[:count]:
        os.kill(pid, signal.SIGKILL)
        killed += 1
    return killed


def wait_for_workers(server: LiveServer, workers: int) -> None:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while len(server.worker_pids()) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not restore {workers} workers:\n{server.log_tail()}")
        time.sleep(0.1)


@dataclass
class FaultInjector:
    """Runs `steps` on a thread while the clients send: ("kill", n) kills n workers, ("restart",) restarts
    PostgreSQL and waits until the server answers /healthz again, ("pause", seconds) waits. Sets `done` at the
    end (or on failure), which stops the clients."""

    server: LiveServer
    workers: int
    steps: list[tuple]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            for step in self.steps:
                if step[0] == "kill":
                    FIGURES.workers_killed += kill_workers(self.server, step[1])
                    wait_for_workers(self.server, self.workers)
                elif step[0] == "restart":
                    started = time.monotonic()
                    restart_postgres()
                    FIGURES.postgres_restarts += 1
                    wait_until_healthy(self.server, RECOVERY_SECONDS)
                    FIGURES.outages.append(time.monotonic() - started)
                else:
                    time.sleep(step[1])
        except BaseException as exc:  # reported by the test, after the clients stop
            self.error = exc
        finally:
            self.done.set()
