"""gunicorn settings for production: `gunicorn -c rewardhub/gunicorn.conf.py rewardhub.wsgi`."""

import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threaded workers: requests mostly wait on PostgreSQL (the GIL is released meanwhile), and unlike sync
# workers they keep client connections alive instead of a TCP handshake and close per request. gunicorn's
# gthread worker, except that workers share new connections evenly (rewardhub/gunicorn_worker.py).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
worker_class = "rewardhub.gunicorn_worker.BalancedThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# gunicorn's C request parser (gunicorn_h1c, picohttpparser) instead of its pure-Python one: parsing each
# request was ~9% of a worker's time on the hot paths. "fast" fails at start-up rather than fall back silently.
http_parser = "fast"
keepalive = 30
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
max_requests = 0
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
# Behind a proxy, gunicorn trusts X-Forwarded-* only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Move everything loaded at start-up (Django, the apps, their modules) out of the garbage collector's
    reach: they live as long as the worker, and every full collection would otherwise walk them again."""
    gc.freeze()
