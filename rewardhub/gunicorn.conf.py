"""gunicorn settings for production: `gunicorn -c rewardhub/gunicorn.conf.py`."""

import gc
import multiprocessing
import os

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


def post_worker_init(worker):
    """Move everything loaded at start-up (Django, the apps, their modules) out of the garbage collector's
    reach: they live as long as the worker, and every full collection would otherwise walk them again."""
    gc.freeze()


def worker_int(worker):
    """Called by gunicorn's reloader (`make run`, --reload) when a source file changed: the worker's server stops at
    its next tick and the arbiter starts a worker on the new code (the reloader's own exit ends only its thread)."""
    if server := getattr(worker, "server", None):
        server.should_exit = True
