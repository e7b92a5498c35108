"""A TCP proxy in front of a server (moto's SQS), that can turn into a black hole.

A black hole is what a network partition looks like from the client: connections are accepted
(or already open) but no byte comes back, so the client waits for its own timeouts. That is worse
than a refused connection, which fails at once, and it is what SQS does when a route disappears.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class BlackholeProxy:
    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.blackhole = threading.Event()
        self.closing = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_blackhole(self, on: bool) -> None:
        if on:
            self.blackhole.set()
        else:
            self.blackhole.clear()
            # Connections opened during the black hole have lost their requests: drop them so
            # the clients reconnect instead of waiting for an answer that cannot come.
            self._drop_all()

    def close(self) -> None:
        self.closing.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        self._track(client)
        upstream: socket.socket | None = None
        try:
            while not self.closing.is_set():
                if self.blackhole.is_set():
                    # Swallow whatever the client sends; answer nothing.
                    readable, _, _ = select.select([client], [], [], 0.2)
                    if readable and not client.recv(65536):
                        return
                    continue
                if upstream is None:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                    upstream.settimeout(None)
                    self._track(upstream)
                readable, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.blackhole.is_set():
                        continue  # the partition began mid-exchange: drop it
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
