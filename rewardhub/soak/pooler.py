"""PgBouncer (Debian's `pgbouncer` package) in transaction mode in front of the local PostgreSQL, for the soak run
through a connection pooler: started by the tests, on a free port, and stopped after them."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from rewardhub.soak.server import free_port

PGBOUNCER = "/usr/sbin/pgbouncer"


def install() -> None:
    if not Path(PGBOUNCER).exists():
        subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], check=False, capture_output=True)
    if not Path(PGBOUNCER).exists():  # the package lists may be stale on a new machine
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "pgbouncer"], check=True, capture_output=True)


@contextmanager
def pgbouncer(*, pool_size: int = 20) -> Iterator[int]:
    """A PgBouncer for the test database's server, in transaction mode; yields its port."""
    install()
    db = connection.settings_dict
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="rewardhub-pgbouncer-"))
    work.chmod(0o777)  # it drops root for the postgres user, which must write its log and pid here
    (work / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={db['OPTIONS'].get('host') or db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {work / 'users.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmax_client_conn = 500\n"
        # psycopg and Django send these at connect; PgBouncer would refuse the connection for an unknown one.
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {work / 'pgbouncer.log'}\npidfile = {work / 'pgbouncer.pid'}\n"
    )
    (work / "users.txt").write_text(f'"{db["USER"] or "postgres"}" ""\n')
    root = os.geteuid() == 0  # PgBouncer refuses to run as root: it switches to the database's system user
    process = subprocess.Popen(
        [PGBOUNCER, *(["-u", "postgres"] if root else []), str(work / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {process.stderr.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"pgbouncer did not listen on {port} within {seconds}s")
