"""What ``ocpp.ChargePoint`` expects of a connection (``send``/``recv``), over aiohttp."""

from __future__ import annotations

from aiohttp import WSMsgType, web


class ConnectionClosed(Exception):
    """The websocket is gone."""


class AiohttpConnection:
    __slots__ = ("ws",)

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: str) -> None:
        if self.ws.closed:
            raise ConnectionClosed("websocket closed")
        try:
            await self.ws.send_str(message)
        except ConnectionError as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def recv(self) -> str | bytes:
        """The next text (or binary) frame; ConnectionClosed when the socket closes."""
        msg = await self.ws.receive()
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            data: str | bytes = msg.data
            return data
        raise ConnectionClosed(f"websocket {msg.type.name.lower()}")
