"""Kapacitor's end of a UDF connection, for tests: send requests, collect responses.

Responses are split with the spec-based reader in :mod:`transcripts`, not with
``udfs.protocol.framing``, and are read on a background thread so a test can never
deadlock on full socket buffers.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from udfs.protocol import udf_pb2 as pb

from .transcripts import take_frames, varint

__all__ = ["AgentThread", "KapacitorPeer", "frame", "start_agent"]

_EOF = object()


def frame(message: Any) -> bytes:
    body = message.SerializeToString()
    return varint(len(body)) + body


class KapacitorPeer:
    """One connection as Kapacitor sees it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._payloads: queue.Queue[Any] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.eof = False

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                if buf:
                    self._payloads.put(AssertionError(f"response stream ends inside a frame ({buf[:20]!r})"))
                self._payloads.put(_EOF)
                return
            payloads, buf = take_frames(buf + data)
            for payload in payloads:
                self._payloads.put(payload)

    # -- sending ------------------------------------------------------------
    def send(self, *requests: pb.Request) -> None:
        self.sock.sendall(b"".join(frame(r) for r in requests))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_input(self) -> None:
        """End of Kapacitor's stream: the UDF reads EOF; responses can still arrive."""
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # -- receiving ----------------------------------------------------------
    def next_payload(self, timeout: float = 10.0) -> bytes | None:
        """The next raw response payload; None at end of stream."""
        if self.eof:
            return None
        try:
            item = self._payloads.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no response within {timeout} s") from None
        if isinstance(item, Exception):
            raise item
        if item is _EOF:
            self.eof = True
            return None
        assert isinstance(item, bytes)
        return item

    def next(self, timeout: float = 10.0) -> pb.Response | None:
        payload = self.next_payload(timeout)
        return None if payload is None else pb.Response.FromString(payload)

    def expect(self, kind: str, timeout: float = 10.0) -> pb.Response:
        response = self.next(timeout)
        assert response is not None, f"connection closed while waiting for {kind}"
        assert response.WhichOneof("message") == kind, f"expected {kind}, got {response}"
        return response

    def take(self, n: int, timeout: float = 10.0) -> list[pb.Response]:
        out: list[pb.Response] = []
        deadline = time.monotonic() + timeout
        for _ in range(n):
            response = self.next(max(0.01, deadline - time.monotonic()))
            assert response is not None, f"connection closed after {len(out)} of {n} responses"
            out.append(response)
        return out

    def until_eof(self, timeout: float = 10.0) -> list[pb.Response]:
        """Every remaining response; fails if the connection is not closed within ``timeout``."""
        out: list[pb.Response] = []
        deadline = time.monotonic() + timeout
        while (response := self.next(max(0.01, deadline - time.monotonic()))) is not None:
            out.append(response)
        return out


class AgentThread:
    """An :class:`udfs.protocol.Agent` running on its own thread over one socketpair end."""

    def __init__(self, run: Callable[[], int], udf_sock: socket.socket) -> None:
        self.status: int | None = None
        self.error: BaseException | None = None
        self._run = run
        self._sock = udf_sock
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            self.status = self._run()
        except BaseException as exc:  # pragma: no cover - reported by wait()
            self.error = exc
        finally:
            # What a transport does when the agent returns: close the connection.
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()

    def wait(self, timeout: float = 10.0) -> int:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"Agent.run() did not return within {timeout} s"
        if self.error is not None:
            raise self.error
        assert self.status is not None
        return self.status


def start_agent(handler: Any, **kwargs: Any) -> tuple[KapacitorPeer, AgentThread]:
    """Connect ``handler`` to a fresh :class:`KapacitorPeer` through a socketpair."""
    from udfs.protocol import Agent

    kapacitor_sock, udf_sock = socket.socketpair()
    agent = Agent(handler, udf_sock.recv, udf_sock.sendall, **kwargs)
    return KapacitorPeer(kapacitor_sock), AgentThread(agent.run, udf_sock)
