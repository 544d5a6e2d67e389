"""A TCP proxy whose link can be cut: a database outage for one client, not for everyone.

    with TcpProxy(5432) as proxy:          # listens on 127.0.0.1:proxy.port
        ... point a worker at proxy.port ...
        proxy.cut()                        # drop every connection, refuse new ones
        proxy.restore()

Stopping the shared PostgreSQL server would break every other test running at the same time;
cutting the proxy looks the same to the client behind it (connections reset, connects fail).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<target_port> until cut."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False

    def __enter__(self) -> TcpProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closed = True
        self.listener.close()
        self._drop_all()

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until `restore`."""
        self.up.clear()
        self._drop_all()

    def restore(self) -> None:
        """Accept and forward connections again."""
        self.up.set()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()  # the "server" is down: the connect fails at once
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
