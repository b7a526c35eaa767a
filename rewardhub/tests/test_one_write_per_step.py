"""A response leaves in one send (rewardhub.http_protocol.OneWritePerStep): what the client receives is unchanged,
in the same order, and nothing waits beyond the step of the event loop that wrote it."""

import asyncio
import functools

from rewardhub.http_protocol import OneWritePerStep


class SocketTransport:
    """What the event loop's transport was asked to do, in order."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("send", data))

    def write_eof(self) -> None:
        self.calls.append(("eof",))

    def close(self) -> None:
        self.calls.append(("close",))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str):
        return ("127.0.0.1", 8000) if name == "sockname" else None


async def next_step() -> None:
    await asyncio.sleep(0)


def connection() -> tuple[SocketTransport, OneWritePerStep]:
    """A connection's socket and the transport the protocol writes to, on the running loop."""
    socket = SocketTransport()
    return socket, OneWritePerStep(socket, asyncio.get_running_loop())


def on_a_loop(test):
    """Run the test's steps on an event loop, as a worker's connection runs."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


@on_a_loop
async def test_a_responses_head_and_body_leave_in_one_send():
    socket, transport = connection()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert socket.calls == []
    await next_step()
    assert socket.calls == [("send", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]


@on_a_loop
async def test_a_write_alone_in_its_step_leaves_at_the_steps_end():
    """A `100 Continue` must reach the client before it sends the body: it is not held for a later write."""
    socket, transport = connection()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await next_step()
    transport.write(b"chunk")
    await next_step()
    assert socket.calls == [("send", b"HTTP/1.1 100 Continue\r\n\r\n"), ("send", b"chunk")]


@on_a_loop
async def test_closing_sends_what_is_held_first():
    socket, transport = connection()
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    await next_step()
    assert socket.calls == [("send", b"HTTP/1.1 400 Bad Request\r\n\r\n"), ("close",)]


@on_a_loop
async def test_an_end_of_file_comes_after_what_was_written():
    socket, transport = connection()
    transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n")
    transport.write_eof()
    assert socket.calls == [("send", b"HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n"), ("eof",)]


@on_a_loop
async def test_nothing_is_written_to_a_connection_closed_meanwhile():
    socket, transport = connection()
    transport.write(b"late")
    socket.closing = True  # the client went away (connection_lost)
    await next_step()
    assert socket.calls == []


@on_a_loop
async def test_the_rest_of_the_transport_is_the_connections_own():
    _, transport = connection()
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)
