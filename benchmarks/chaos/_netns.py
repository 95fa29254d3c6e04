"""A host of its own on the network: a namespace, a veth pair, and relays to loopback services.

The stack's services listen on 127.0.0.1 only, which a process in another network namespace
cannot reach. The cut-off host therefore runs in the namespace ``qcsc-chaos`` behind a veth pair
(``10.213.78.2`` inside, ``10.213.78.1`` outside); PostgreSQL is told to listen on the outside
address too, and a relay in the driver forwards that address's Prefect API and emulator ports
to their loopback listeners. Everything the host says travels over the pair, so taking the
outside end down cuts that host, and only that host, off: its packets vanish without an error
(its own end keeps its address and route), as when a machine's network fails. Bringing the end
up again delivers what TCP still retransmits. Needs root and ``ip``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from typing import Final

NAMESPACE: Final = "qcsc-chaos"
OUTSIDE: Final = "qcscchaos0"
INSIDE: Final = "qcscchaos1"
OUTSIDE_IP: Final = "10.213.78.1"
INSIDE_IP: Final = "10.213.78.2"


def _ip(*argv: str, namespace: bool = False) -> None:
    prefix = ["ip", "netns", "exec", NAMESPACE] if namespace else []
    subprocess.run([*prefix, "ip", *argv], check=True, capture_output=True)


class Namespace:
    """The cut-off host's network namespace and veth pair."""

    prefix: Final = ["ip", "netns", "exec", NAMESPACE]

    def up(self) -> None:
        """Create the namespace and the pair (removing leftovers of an earlier run)."""
        self.down()
        _ip("netns", "add", NAMESPACE)
        _ip("link", "add", OUTSIDE, "type", "veth", "peer", "name", INSIDE)
        _ip("link", "set", INSIDE, "netns", NAMESPACE)
        _ip("addr", "add", f"{OUTSIDE_IP}/30", "dev", OUTSIDE)
        _ip("link", "set", OUTSIDE, "up")
        _ip("addr", "add", f"{INSIDE_IP}/30", "dev", INSIDE, namespace=True)
        _ip("link", "set", INSIDE, "up", namespace=True)
        _ip("link", "set", "lo", "up", namespace=True)

    def cut(self) -> None:
        """Take the outside end down: the host's packets are dropped from now on."""
        _ip("link", "set", OUTSIDE, "down")

    def restore(self) -> None:
        """Bring the outside end up again (its address and route come back with it)."""
        with contextlib.suppress(subprocess.CalledProcessError):  # gone already: nothing to do
            _ip("link", "set", OUTSIDE, "up")
        with contextlib.suppress(subprocess.CalledProcessError):  # kept on some kernels
            _ip("addr", "add", f"{OUTSIDE_IP}/30", "dev", OUTSIDE)

    def down(self) -> None:
        """Delete the pair and the namespace (safe to repeat)."""
        subprocess.run(["ip", "link", "del", OUTSIDE], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", NAMESPACE], check=False, capture_output=True)


class Relay:
    """Forward ``OUTSIDE_IP:port`` to ``127.0.0.1:port`` for each port, in a daemon thread."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []

    def start(self) -> None:
        """Listen on every port (returns once listening)."""
        threading.Thread(target=self._loop.run_forever, daemon=True, name="relay").start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)

    def stop(self) -> None:
        """Stop listening and stop the loop."""

        async def close() -> None:
            for server in self._servers:
                server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _listen(self) -> None:
        for port in self._ports:

            async def handle(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int = port
            ) -> None:
                await self._forward(reader, writer, port)

            self._servers.append(await asyncio.start_server(handle, OUTSIDE_IP, port))

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pump(reader, upstream_writer), _pump(upstream_reader, writer), return_exceptions=True
        )


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
