"""The server's code we override or re-implement, as we reviewed it. rewardhub/gunicorn_worker.py replaces
uvicorn-worker's private `_serve` and re-implements uvicorn's `Server.startup` (to accept connections evenly
between workers), and rewardhub/http_protocol.py extends uvicorn's httptools protocol (gunicorn's head limits
and deadlines, one send per response). No public hook does either. An upgrade that changes any of these functions
fails here, naming what to re-read before taking it; a real gunicorn runs our worker and protocol in
test_server_limits.py."""

import hashlib
import inspect
from pydoc import locate

import pytest

WORKER = "rewardhub/gunicorn_worker.py (BalancedUvicornWorker, BalancedServer, BalancedListener)"
PROTOCOL = "rewardhub/http_protocol.py (LimitedHttpToolsProtocol)"
HTTPTOOLS = "uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"
CYCLE = "uvicorn.protocols.http.httptools_impl.RequestResponseCycle"

# Upstream function -> (sha256 of its source, first 16 hex digits, as reviewed; what of ours depends on it).
REVIEWED = {
    "uvicorn_worker.UvicornWorker._serve": ("eb799ef03d639317", WORKER),
    "uvicorn_worker.UvicornWorker.callback_notify": ("bbcf90ad25de8002", WORKER),
    "uvicorn.server.Server._serve": ("4575b7a50adfede8", WORKER),
    "uvicorn.server.Server.startup": ("2aa1d70a244bfcf2", WORKER),
    "uvicorn.server.Server.shutdown": ("9b33c50562992b1e", WORKER),
    f"{HTTPTOOLS}.__init__": ("4f08999410347141", PROTOCOL),
    f"{HTTPTOOLS}.connection_made": ("6efb565ff3d36b91", PROTOCOL),
    f"{HTTPTOOLS}.connection_lost": ("c91a4c9bf2e29c55", PROTOCOL),
    f"{HTTPTOOLS}.data_received": ("010a7ae59a5d3b1a", PROTOCOL),
    f"{HTTPTOOLS}.on_message_begin": ("96d377fdc7c2baef", PROTOCOL),
    f"{HTTPTOOLS}.on_url": ("37be44e962b04ca8", PROTOCOL),
    f"{HTTPTOOLS}.on_header": ("65d62c044f61fdbd", PROTOCOL),
    f"{HTTPTOOLS}.on_headers_complete": ("1ea8589acfad92d8", PROTOCOL),
    f"{HTTPTOOLS}.on_response_complete": ("64e254f28e389e76", PROTOCOL),
    f"{HTTPTOOLS}.send_400_response": ("ae5a4a3782b646fd", PROTOCOL),
    # OneWritePerStep holds the writes of one step of the loop: a response's head and body, a `100 Continue`.
    f"{CYCLE}.send": ("abdd8601b326a8da", PROTOCOL),
    f"{CYCLE}.receive": ("8124ae006be71184", PROTOCOL),
}


def source_digest(dotted_name: str) -> str:
    function = locate(dotted_name)
    assert function is not None, f"{dotted_name} no longer exists"
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


@pytest.mark.parametrize("upstream", REVIEWED)
def test_the_server_code_we_build_on_is_the_code_we_reviewed(upstream):
    reviewed, ours = REVIEWED[upstream]
    assert source_digest(upstream) == reviewed, (
        f"{upstream} changed in the installed version. Re-read it against {ours}, which overrides or "
        f"re-implements it, adapt ours, then record the new digest here."
    )
