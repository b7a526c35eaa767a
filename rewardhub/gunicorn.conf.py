"""gunicorn settings for production: `gunicorn -c rewardhub/gunicorn.conf.py`."""

import gc
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# uvicorn's gunicorn worker (httptools, uvloop), one per core, serving rewardhub.asgi: the hot paths run on a
# pool of async PostgreSQL connections (rewardhub.db), so one process keeps many requests in flight while the
# database works, without threads handing the GIL back and forth; everything else runs on Django's WSGI handler
# in a few threads. The workers share new connections evenly (rewardhub/gunicorn_worker.py).
wsgi_app = "rewardhub.asgi:application"
worker_class = "rewardhub.gunicorn_worker.BalancedUvicornWorker"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
# Seconds a connection may sit idle, before its first request or between two (rewardhub/http_protocol.py).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 30))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
max_requests = 0
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"

# Prometheus' multiprocess mode (rewardhub.metrics): every worker writes its samples to files here, a scrape adds them
# up. Set before any worker imports prometheus_client; a directory of this master's own, emptied at each start (the
# files of an earlier run's workers would be counted again otherwise), in memory (/dev/shm) where there is one: on
# a disk the kernel keeps writing the mapped files back, which cost the postback 3% of its throughput.
own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
in_memory = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - mkdtemp makes a private directory in it
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="rewardhub-metrics-", dir=in_memory)
)
shutil.rmtree(metrics_dir, ignore_errors=True)
os.makedirs(metrics_dir, exist_ok=True)


def on_exit(server):
    if own_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def when_ready(server):
    """METRICS_BIND (host:port): the master serves every worker's metrics there, apart from the public port."""
    if bind := os.environ.get("METRICS_BIND"):
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        host, _, port = bind.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)


def child_exit(server, worker):
    """A worker's live gauges leave with it (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Move everything loaded at start-up (Django, the apps, their modules) out of the garbage collector's
    reach: they live as long as the worker, and every full collection would otherwise walk them again."""
    gc.freeze()


def worker_int(worker):
    """Called by gunicorn's reloader (`make run`, --reload) when a source file changed: the worker's server stops at
    its next tick and the arbiter starts a worker on the new code (the reloader's own exit ends only its thread)."""
    if server := getattr(worker, "server", None):
        server.should_exit = True
