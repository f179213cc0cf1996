"""Real WebSocket servers on 127.0.0.1 for tests: each runs in its own thread with its own event loop,
so the feed client (which has its own thread) talks to it over a real socket, as it would to an exchange.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import Server, ServerConnection, serve

Handler = Callable[[ServerConnection, "LoopbackServer"], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """Start, stop and restart (on the same port) a scripted server; counts connections."""

    def __init__(
        self,
        handler: Handler,
        *,
        port: int | None = None,
        max_size: int | None = 2**24,
        http: Callable[[str], tuple[int, bytes] | None] | None = None,
    ) -> None:
        """``http(path)`` may answer plain HTTP requests on the same port (e.g. a REST snapshot)."""
        self.handler = handler
        self.http = http
        self.http_requests: list[str] = []
        self.port = port or free_port()
        self.max_size = max_size
        self.connections = 0
        self.received: list[str | bytes] = []  # everything clients sent (subscriptions, pings)
        self.state: dict = {}  # free-form per-test state shared with the handler
        self._handlers: set = set()
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-server", daemon=True)
        self._thread.start()

    def url(self, path: str = "/ws/l2-orderbook/okx/BTC-USDT-SWAP") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def _wrap(self, ws: ServerConnection) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            await self.handler(ws, self)
        except Exception:
            pass
        finally:
            self._handlers.discard(task)

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> LoopbackServer:
        def process_request(connection, request):
            if self.http is None or request.headers.get("Upgrade", "").lower() == "websocket":
                return None
            self.http_requests.append(request.path)
            answer = self.http(request.path)
            if answer is None:
                return connection.respond(404, "not found\n")
            status, body = answer
            return connection.respond(status, body.decode())

        async def go() -> None:
            self._server = await serve(
                self._wrap,
                "127.0.0.1",
                self.port,
                max_size=self.max_size,
                compression=None,
                process_request=process_request,
            )

        self._call(go())
        return self

    def stop(self) -> None:
        """Close the listening socket and drop every connection abruptly."""

        async def go() -> None:
            if self._server is not None:
                for conn in list(self._server.connections):
                    conn.transport.abort()
                for task in list(self._handlers):
                    task.cancel()
                self._server.close(close_connections=False)
                await self._server.wait_closed()
                self._server = None

        self._call(go())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
