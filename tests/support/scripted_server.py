"""An OpenAI-compatible server on loopback that plays a script: latency, stalls, errors, drops.

    async with ScriptedServer(Script(text="viewer1: hi\\ntwin: hello\\n")) as srv:
        client = AsyncOpenAI(base_url=srv.url, api_key="x")

Serves `/v1/completions` and `/v1/chat/completions` (streamed as OpenAI does: `data: {...}`
events, then `data: [DONE]`; or one JSON body without `stream`) and `/v1/models`. Every request
is recorded with its JSON body and whether the client went away before the stream ended.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

_TOKEN = re.compile(r"\n|[^\S\n]*[^\s]+|[^\S\n]+")


def tokens_of(text: str) -> list[str]:
    """Text cut into word-sized tokens (a leading space stays with its word; newlines alone)."""
    return _TOKEN.findall(text)


def chat_text(lines: Sequence[tuple[str, str]]) -> str:
    """Completion text as the twin model writes it: the open twin turn first, then `name: text`."""
    out = []
    for i, (speaker, text) in enumerate(lines):
        out.append(f" {text}\n" if i == 0 else f"{speaker}: {text}\n")
    return "".join(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Script:
    """How the server answers one request."""

    text: str = " hello from the script\n"
    repeat: bool = False  # cycle the text until max_tokens, as a model with EOS banned does
    first_token_delay: float = 0.0  # seconds before the first token (after the headers)
    tokens_per_second: float = 0.0  # 0: as fast as possible
    stall_after: int | None = None  # tokens sent before a stall
    stall_seconds: float = 0.0
    status: int = 200  # anything else: an error body with this status, no stream
    disconnect_after: int | None = None  # tokens sent before the connection is cut
    # "auto": "length" when max_tokens cut the text, else "stop"; None: the stream just ends
    finish_reason: str | None = "auto"


@dataclass(slots=True, kw_only=True)
class Recorded:
    """One request the server saw."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    tokens_sent: int = 0
    finished: bool = False  # the stream ended as scripted ([DONE] sent)
    client_gone: bool = False  # the client closed the connection before the end
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set when the handler ends


ScriptSource = Script | Sequence[Script] | Callable[[dict[str, Any]], Script]


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class ScriptedServer:
    """The server, as an async context manager; `url` is its OpenAI base URL."""

    def __init__(self, script: ScriptSource = Script(), *, models: Sequence[str] = ("twin",)):
        self._script = script
        self._models = list(models)
        self.requests: list[Recorded] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _script_for(self, body: dict[str, Any]) -> Script:
        script = self._script
        if isinstance(script, Script):
            return script
        if callable(script):
            return script(body)
        # A sequence: one script per request, the last one repeated.
        return script[min(len(self.requests) - 1, len(script) - 1)]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._list_models)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.Server)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_handled(self, index: int = -1, wait_s: float = 10.0) -> Recorded:
        """The recorded request once its handler has ended (stream finished, cut or abandoned)."""
        record = self.requests[index]
        async with asyncio.timeout(wait_s):
            await record.done.wait()
        return record

    async def _list_models(self, request: web.Request) -> web.Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in self._models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _serve(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        body = await request.json()
        record = Recorded(path=request.path, body=body, headers=dict(request.headers))
        self.requests.append(record)
        try:
            return await self._play(request, record, self._script_for(body), chat=chat)
        finally:
            record.done.set()

    async def _play(
        self, request: web.Request, record: Recorded, script: Script, *, chat: bool
    ) -> web.StreamResponse:
        body = record.body
        if script.status != 200:
            error = {"message": f"scripted failure {script.status}", "type": "server_error"}
            return web.json_response({"error": error}, status=script.status)
        max_tokens = int(body.get("max_tokens") or 16)
        tokens = tokens_of(script.text)
        if script.repeat:
            tokens = [tokens[i % len(tokens)] for i in range(max_tokens)]
        capped = len(tokens) > max_tokens
        tokens = tokens[:max_tokens]
        finish = script.finish_reason
        if finish == "auto":
            finish = "length" if capped or script.repeat else "stop"
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{len(self.requests)}"
        model = str(body.get("model", ""))

        def chunk(text: str | None, finish_reason: str | None) -> dict[str, Any]:
            choice: dict[str, Any]
            if chat:
                delta = {"role": "assistant", "content": text} if text is not None else {}
                choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
                kind = "chat.completion.chunk"
            else:
                choice = {"index": 0, "text": text or "", "logprobs": None}
                choice["finish_reason"] = finish_reason
                kind = "text_completion"
            created = int(time.time())
            return {
                "id": ident,
                "object": kind,
                "created": created,
                "model": model,
                "choices": [choice],
            }

        if not body.get("stream"):
            text = "".join(tokens)
            await asyncio.sleep(script.first_token_delay)
            if chat:
                message = {"role": "assistant", "content": text}
                choice = {"index": 0, "message": message, "finish_reason": finish}
                kind = "chat.completion"
            else:
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
                kind = "text_completion"
            return web.json_response(
                {"id": ident, "object": kind, "created": 0, "model": model, "choices": [choice]}
            )

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            if not await self._pause(request, script.first_token_delay):
                record.client_gone = True
                return response
            gap = 1.0 / script.tokens_per_second if script.tokens_per_second > 0 else 0.0
            for i, token in enumerate(tokens):
                if script.disconnect_after is not None and i >= script.disconnect_after:
                    assert request.transport is not None
                    request.transport.close()  # mid-chunk: the client sees a broken stream
                    return response
                stall = script.stall_seconds if i == script.stall_after else 0.0
                if stall and not await self._pause(request, stall):
                    record.client_gone = True
                    return response
                last = i == len(tokens) - 1
                await self._send(response, chunk(token, finish if last else None))
                record.tokens_sent += 1
                if gap and not await self._pause(request, gap):
                    record.client_gone = True
                    return response
            if not tokens:
                await self._send(response, chunk(None, finish))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            record.finished = True
        except (ConnectionResetError, ConnectionError):
            record.client_gone = True
        return response

    @staticmethod
    async def _send(response: web.StreamResponse, data: dict[str, Any]) -> None:
        await response.write(f"data: {json.dumps(data)}\n\n".encode())

    @staticmethod
    async def _pause(request: web.Request, seconds: float) -> bool:
        """Sleep, watching the connection; False as soon as the client has gone."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                return False
            left = until - loop.time()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, 0.01))
