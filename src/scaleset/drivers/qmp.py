"""QMP, the QEMU Machine Protocol, over a unix socket: just enough to drive a VM.

QMP is JSON lines: the server greets, the client negotiates with `qmp_capabilities`, then sends
`{"execute": ..., "arguments": ...}` and reads lines until the one with `return` or `error`
(asynchronous `event` lines may come in between). A QMP socket serves one client at a time, so a
call connects, does its one command and leaves: calls for one VM queue up on the socket, and a
server that restarts holds no stale connection.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any


class QmpError(Exception):
    """QEMU answered with an error, or the socket could not be used."""


async def qmp(socket_path: Path, command: str, arguments: dict[str, Any] | None = None, *, timeout: float = 5.0) -> Any:
    """Run one QMP command and return its `return` value."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=1 << 20)
            try:
                await _read_answer(reader, greeting=True)
                await _send(writer, "qmp_capabilities", None)
                await _read_answer(reader)
                await _send(writer, command, arguments)
                return await _read_answer(reader)
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except OSError:
                    pass
    except TimeoutError:
        raise QmpError(f"QMP {command}: no answer within {timeout:g}s") from None
    except OSError as error:
        raise QmpError(f"QMP {command}: cannot use {socket_path}: {error.strerror or error}") from None


async def human(socket_path: Path, command_line: str, *, timeout: float = 5.0) -> str:
    """A human-monitor command (e.g. `info usernet`, `hostfwd_add ...`) and its text output."""
    return str(await qmp(socket_path, "human-monitor-command", {"command-line": command_line}, timeout=timeout))


async def _send(writer: asyncio.StreamWriter, command: str, arguments: dict[str, Any] | None) -> None:
    message: dict[str, Any] = {"execute": command}
    if arguments:
        message["arguments"] = arguments
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()


async def _read_answer(reader: asyncio.StreamReader, *, greeting: bool = False) -> Any:
    while True:
        line = await reader.readline()
        if not line:
            raise QmpError("QEMU closed the QMP connection")
        message = json.loads(line)
        if greeting and "QMP" in message:
            return message
        if "return" in message:
            return message["return"]
        if "error" in message:
            error = message["error"]
            raise QmpError(f"{error.get('class', 'Error')}: {error.get('desc', '')}")
        # An event; not what we wait for.
