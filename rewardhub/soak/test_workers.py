"""The workers share a burst of kept-alive connections (rewardhub/gunicorn_worker.py): a worker serves its
connections on one core (one event loop), so a worker holding most of them would limit them all to its pace."""

import http.client
import os
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rewardhub.soak.server import START_SECONDS

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]
CLIENTS = 16  # what `make bench` opens: wrk -c16
BURSTS = 7


def open_kept_alive_connections(base_url: str, count: int) -> list[http.client.HTTPConnection]:
    """`count` clients that connect at the same moment, as a load generator does, each keeping its connection."""
    url = urlsplit(base_url)
    start = threading.Barrier(count)
    clients = [http.client.HTTPConnection(url.hostname, url.port, timeout=10) for _ in range(count)]

    def connect_and_ask(client):
        start.wait()
        client.request("GET", "/healthz")
        client.getresponse().read()

    threads = [threading.Thread(target=connect_and_ask, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients


def connections_per_worker(worker_pids: list[int], server_port: int, clients) -> Counter:
    """Which worker holds each client's connection: the server end's socket inode (/proc/net/tcp, keyed by the
    client's port) among each worker's open files."""
    inode_by_client_port = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        if local_port == server_port and fields[9] != "0":  # inode 0: a closed connection in TIME_WAIT
            inode_by_client_port[remote_port] = fields[9]
    worker_by_inode = {}
    for pid in worker_pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except FileNotFoundError:  # closed meanwhile (a connection of the previous burst)
                continue
            if target.startswith("socket:["):
                worker_by_inode[target.removeprefix("socket:[").removesuffix("]")] = pid
    return Counter(worker_by_inode[inode_by_client_port[client.sock.getsockname()[1]]] for client in clients)


def burst(server, workers: list[int]) -> Counter:
    clients = open_kept_alive_connections(server.base_url, CLIENTS)
    try:
        return connections_per_worker(workers, urlsplit(server.base_url).port, clients)
    finally:
        for client in clients:
            client.close()


def test_bursts_of_kept_alive_connections_are_shared_by_the_workers(server):
    workers = server.worker_pids()
    # A worker still loading Django accepts nothing: wait until a burst reaches both.
    deadline = time.monotonic() + START_SECONDS
    while len(burst(server, workers)) < len(workers):
        assert time.monotonic() < deadline, "a worker never took a connection"

    most_held = [max(burst(server, workers).values()) for _ in range(BURSTS)]

    # Even is 8 each. gunicorn's own asgi worker left a median of 10 or 11 (up to 13) with the busier worker,
    # its gthread worker 11 (up to 15).
    assert statistics.median(most_held) <= 9, most_held
