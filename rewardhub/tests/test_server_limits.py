"""What a client can hold of a production worker: a real gunicorn with the production config (one worker, short
timeouts) driven over raw sockets, as an attacker would. Slow bodies must not hold Django's threads, request
heads are bounded in size and time, and idle connections are closed."""

import http.client
import json
import socket
import time
from contextlib import ExitStack, closing, suppress
from urllib.parse import urlsplit

import pytest

from catalog.tests.factories import StoreAppFactory
from ledger.models import RewardUser
from rewardhub.soak.server import gunicorn_server

pytestmark = pytest.mark.django_db(transaction=True)

BODY_TIMEOUT = 3
HEADER_TIMEOUT = 2
KEEPALIVE = 3
MAX_BODY_BYTES = 64 * 1024
PROMPT = 2  # seconds within which a request that nothing blocks is answered
HEAD = b"Host: 127.0.0.1\r\n"
SLOW_JSON = b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"  # 1 of 1,000 bytes


@pytest.fixture(scope="module")
def server(django_db_setup):
    """One worker: its DJANGO_THREADS (4) are all the threads that Django's requests get."""
    environ = {
        "HTTP_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "GUNICORN_KEEPALIVE": str(KEEPALIVE),
        "HTTP_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "DJANGO_THREADS": "4",
    }
    with gunicorn_server(workers=1, environ=environ) as live:
        yield live


def connect(server, timeout: float = PROMPT) -> socket.socket:
    url = urlsplit(server.base_url)
    return socket.create_connection((url.hostname, url.port), timeout=timeout)


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send what the server lets through: it may stop reading a request it refused."""
    with suppress(OSError):  # reset or broken pipe once the server closed
        sock.sendall(data)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the next response (the socket's timeout bounds the wait)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    while len(body) < int(headers.get(b"content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the answer"
        body += chunk
    return int(lines[0].split()[1]), body


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closed the connection within `within` seconds (anything it sends first is skipped)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def ask(server, method: str, path: str, headers: dict | None = None, body: bytes | None = None) -> tuple[int, float]:
    """Status and seconds taken of one request on a fresh connection; raises if it takes longer than PROMPT."""
    url = urlsplit(server.base_url)
    started = time.monotonic()
    with closing(http.client.HTTPConnection(url.hostname, url.port, timeout=PROMPT)) as client:
        client.request(method, path, body=body, headers=headers or {})
        response = client.getresponse()
        response.read()
    return response.status, time.monotonic() - started


def test_slow_bodies_leave_djangos_threads_to_other_requests(server):
    with ExitStack() as slow:
        for _ in range(12):  # three times the worker's threads
            sock = slow.enter_context(connect(server))
            sock.sendall(b"POST /api/app/users HTTP/1.1\r\n" + HEAD + SLOW_JSON)
        time.sleep(0.3)  # the slow requests have reached the application
        answers = [
            ask(server, "GET", "/healthz"),
            ask(server, "GET", "/api/app/me", headers={"Authorization": "Bearer not-a-token"}),
            ask(server, "GET", "/admin/login/"),
        ]
    assert [status for status, _ in answers] == [200, 401, 200]
    assert max(seconds for _, seconds in answers) < PROMPT


@pytest.mark.parametrize("path", ["/api/app/users", "/api/postback"], ids=["django", "hot-path"])
def test_a_body_not_finished_by_the_deadline_gets_408_and_the_connection_closes(server, path):
    with connect(server, timeout=BODY_TIMEOUT + PROMPT) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\n".encode() + HEAD + SLOW_JSON)
        started = time.monotonic()
        status, _ = read_answer(sock)
        assert status == 408
        assert BODY_TIMEOUT - 0.5 < time.monotonic() - started < BODY_TIMEOUT + PROMPT
        assert closed_by_server(sock, PROMPT)


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(server):
    with connect(server) as sock:
        sock.sendall(b"POST /admin/login/ HTTP/1.1\r\n" + HEAD + b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1))
        assert read_answer(sock)[0] == 413
        assert closed_by_server(sock, PROMPT)


def test_a_chunked_body_over_the_limit_is_refused(server):
    chunk = b"x" * 8192
    with connect(server) as sock:
        sock.sendall(b"POST /admin/login/ HTTP/1.1\r\n" + HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
            send_quietly(sock, b"%x\r\n%s\r\n" % (len(chunk), chunk))
        assert read_answer(sock)[0] == 413


def test_a_chunked_app_registration_registers_the_user(server):
    StoreAppFactory(pid="cashgiraffe")
    body = json.dumps({"pid": "cashgiraffe", "device_id": "device-chunked"}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/app/users HTTP/1.1\r\n"
            + HEAD
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked
        )
        status, answer = read_answer(sock)
    assert status == 201, answer
    assert RewardUser.objects.filter(device_id="device-chunked", store_app__pid="cashgiraffe").exists()


def test_a_1mb_header_gets_431_and_the_connection_closes(server):
    with connect(server) as sock:
        send_quietly(sock, b"GET /healthz HTTP/1.1\r\n" + HEAD + b"X-Big: " + b"a" * 1024 * 1024 + b"\r\n\r\n")
        assert read_answer(sock)[0] == 431
        assert closed_by_server(sock, PROMPT)


def test_a_header_over_the_field_size_gets_431(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + HEAD + b"X-Big: " + b"a" * 8190 + b"\r\n\r\n")
        assert read_answer(sock)[0] == 431


def test_101_headers_get_431(server):
    fields = b"".join(b"X-Field-%d: 1\r\n" % n for n in range(100))  # with Host: 101
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + HEAD + fields + b"\r\n")
        assert read_answer(sock)[0] == 431
        assert closed_by_server(sock, PROMPT)


def test_100_headers_are_served(server):
    fields = b"".join(b"X-Field-%d: 1\r\n" % n for n in range(99))
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + HEAD + fields + b"\r\n")
        assert read_answer(sock)[0] == 200


def test_a_url_over_the_request_line_limit_gets_414(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz?" + b"a" * 4094 + b" HTTP/1.1\r\n" + HEAD + b"\r\n")
        assert read_answer(sock)[0] == 414


def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(server):
    with connect(server) as sock:
        started = time.monotonic()
        assert closed_by_server(sock, KEEPALIVE + PROMPT)
        assert time.monotonic() - started > KEEPALIVE - 0.5


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_header_deadline(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT + PROMPT:
            send_quietly(sock, b"X")
            if closed_by_server(sock, 0.2):
                break
        assert HEADER_TIMEOUT - 0.5 < time.monotonic() - started < HEADER_TIMEOUT + PROMPT


def test_pipelined_requests_are_each_answered(server):
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + HEAD + b"\r\n" + b"GET /healthz HTTP/1.1\r\n" + HEAD + b"\r\n")
        answers = b""
        while answers.count(b"HTTP/1.1 200 OK") < 2:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {answers!r}"
            answers += chunk


def test_a_kept_alive_connection_serves_requests_while_it_is_used(server):
    url = urlsplit(server.base_url)
    with closing(http.client.HTTPConnection(url.hostname, url.port, timeout=PROMPT)) as client:
        for _ in range(3):
            client.request("GET", "/healthz")
            assert client.getresponse().read() == b'{"ok":true}'
            time.sleep(KEEPALIVE / 2)


@pytest.mark.parametrize("path", ["/api/app/users", "/api/postback"], ids=["django", "hot-path"])
def test_a_client_that_expects_100_continue_gets_it_before_it_sends_the_body(server, path):
    body = b'{"pid": "nope"}'
    with connect(server) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\n".encode()
            + HEAD
            + b"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")  # within PROMPT, the socket's timeout
        sock.sendall(body)
        status, _ = read_answer(sock)
    assert status in (400, 401)
