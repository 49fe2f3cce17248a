"""The twin simulator and the rewriter over OpenAI-compatible servers (vLLM, llama.cpp, Ollama...).

The only module that imports `openai`. Both adapters stream, put every remote wait under a
deadline (first token, stall, overall cap), translate the client's errors into
SimulatorUnavailable / RewriterUnavailable with a short reason, and close the HTTP stream on
every exit, so that closing their iterator makes the server stop generating.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, Protocol, Self, TypeVar

import openai
from openai.types import Completion
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from cohost.core.errors import ReplyCut, RewriterUnavailable, SimulatorUnavailable, Transient
from cohost.core.events import SimLine
from cohost.core.net import url_is_local
from cohost.core.options import RewriterSettings, SimulatorSettings
from cohost.core.ports import FusionRequest, SimRequest
from cohost.text.render import (
    DEFAULT_FORMAT,
    ChatFormat,
    FusionTemplate,
    LineParser,
    PrivateHits,
    load_fusion_template,
    render_fusion,
    render_prompt,
)

log = logging.getLogger(__name__)

ServerKind = Literal["vllm", "llamacpp", "ollama", "tgwebui"]
_NO_KEY = "not-needed"  # the client insists on a key; servers without auth ignore it

_Chunk = TypeVar("_Chunk", Completion, ChatCompletionChunk)
_Chunk_co = TypeVar("_Chunk_co", covariant=True)


class _Stream(Protocol[_Chunk_co]):  # what the adapters use of openai.AsyncStream
    async def __anext__(self) -> _Chunk_co: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Deadlines:
    """How long a streamed call may take: to its first token, between tokens, in all."""

    first_token_s: float
    stall_s: float
    cap_s: float


def _reason(exc: openai.OpenAIError, *, streaming: bool) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timeout: the HTTP client gave up waiting"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        if streaming:
            return f"dropped: the connection broke mid-stream ({type(cause).__name__})"
        return f"refused: cannot connect ({type(cause).__name__}: {cause})"
    if isinstance(exc, openai.APIStatusError):
        return f"http {exc.status_code}: {exc.message}"
    return f"error: {type(exc).__name__}: {exc}"


# How far a measured pace may stretch the configured time cap: a slow server gets the time its
# speed needs for the token cap, but a turn still ends in bounded time.
MAX_CAP_STRETCH = 3.0
_PACE_WEIGHT = 0.3  # of the newest call in the running figures


class Pace:
    """A server's measured speed: its first-token wait and tokens per second, smoothed.

    A fixed time cap that suits a GPU cuts a CPU model's reply after a line or two; one that
    suits the CPU wastes a fast server's time on a stalled one. So the cap of each call follows
    what earlier calls measured: the first token's wait plus the token cap at the measured rate,
    with a margin, never below the configured cap and never past `MAX_CAP_STRETCH` times it.
    """

    def __init__(self) -> None:
        self.first_token_s: float | None = None
        self.tokens_per_s: float | None = None

    def first_token(self, seconds: float) -> None:
        """One call's wait for its first token."""
        self.first_token_s = _smoothed(self.first_token_s, seconds)

    def streamed(self, tokens: int, seconds: float) -> None:
        """One call's tokens after its first, and the time they took."""
        if tokens >= 4 and seconds > 0:  # too few tokens say nothing of the rate
            self.tokens_per_s = _smoothed(self.tokens_per_s, tokens / seconds)

    def cap_s(self, configured: float, max_tokens: int) -> float:
        """The time cap for a call of up to `max_tokens` tokens."""
        if self.first_token_s is None or self.tokens_per_s is None:
            return configured
        needed = (self.first_token_s + max_tokens / self.tokens_per_s) * 1.25
        return min(max(configured, needed), configured * MAX_CAP_STRETCH)


def _smoothed(old: float | None, new: float) -> float:
    return new if old is None else old + _PACE_WEIGHT * (new - old)


class _Timed(Generic[_Chunk]):
    """The chunks of one streamed call, each awaited under its deadline."""

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[_Stream[_Chunk]]],
        deadlines: Deadlines,
        error: type[Transient],
        pace: Pace | None = None,
        max_tokens: int = 0,
    ) -> None:
        self._open: Callable[[], Awaitable[_Stream[_Chunk]]] = open_stream
        self._deadlines = deadlines
        self._error = error
        self._pace = pace
        self._max_tokens = max_tokens
        self.capped = False  # ended by the time cap (quietly), not by the server

    async def chunks(self) -> AsyncGenerator[_Chunk, None]:
        """Chunks until the server ends the stream or the time cap passes."""
        deadlines, error, pace = self._deadlines, self._error, self._pace
        loop = asyncio.get_running_loop()
        start = loop.time()
        cap_s = deadlines.cap_s
        if pace is not None:
            cap_s = pace.cap_s(deadlines.cap_s, self._max_tokens)
        cap_at = start + cap_s
        first_at = start + deadlines.first_token_s
        stream: _Stream[_Chunk] | None = None
        first_at_real: float | None = None  # when the first chunk arrived
        last_at = start
        chunks = 0
        try:
            got_first = False
            while True:
                limit = loop.time() + deadlines.stall_s if got_first else first_at
                try:
                    # The deadline covers only the wait for the server, never the consumer's
                    # work between chunks (it runs in this same task while we sit at `yield`).
                    async with asyncio.timeout_at(min(limit, cap_at)):
                        if stream is None:
                            stream = await self._open()
                        chunk = await stream.__anext__()
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    if cap_at <= limit:
                        log.debug("stream reached its time cap of %.1f s", cap_s)
                        self.capped = True
                        return
                    if got_first:
                        raise error(f"stall: no token for {deadlines.stall_s:.1f} s") from None
                    raise error(
                        f"first token timeout: nothing after {deadlines.first_token_s:.1f} s"
                    ) from None
                except openai.OpenAIError as exc:
                    raise error(_reason(exc, streaming=stream is not None)) from exc
                last_at = loop.time()
                if first_at_real is None:
                    first_at_real = last_at
                    if pace is not None:
                        pace.first_token(last_at - start)
                got_first = True
                chunks += 1
                yield chunk
        finally:
            if pace is not None and first_at_real is not None:
                # up to the last chunk's arrival, however the call ended (a pipelined turn
                # stops the simulation once it has the twin's line)
                pace.streamed(chunks - 1, last_at - first_at_real)
            if stream is not None:
                await stream.close()  # closes the HTTP response: the server sees it and aborts


def _client(url: str, api_key: str | None, deadlines: Deadlines) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=url,
        api_key=api_key or _NO_KEY,
        max_retries=0,  # a late reply is a useless reply; the turn degrades instead
        timeout=deadlines.first_token_s + deadlines.cap_s,  # a backstop behind our deadlines
    )


class _Adapter:
    """An async context manager around one client, with the pace its server has shown."""

    def __init__(self, client: openai.AsyncOpenAI, *, adaptive_cap: bool = True) -> None:
        self._client = client
        # None: every call gets the configured time cap, whatever the server's speed
        self.pace: Pace | None = Pace() if adaptive_cap else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.close()


class OpenAISimulator(_Adapter):
    """The twin LoRA continuing the chat through `/v1/completions`, with EOS banned."""

    def __init__(
        self,
        *,
        url: str,
        model: str,
        api_key: str | None = None,
        server_kind: ServerKind = "vllm",
        eos_token_id: int = 2,
        max_twin_lines: int = 2,
        max_tokens: int = 160,
        temperature: float = 0.8,
        seed: int | None = None,
        deadlines: Deadlines,
        chat_format: ChatFormat = DEFAULT_FORMAT,
        twin_logins: Collection[str] = (),
        adaptive_cap: bool = True,
    ) -> None:
        super().__init__(_client(url, api_key, deadlines), adaptive_cap=adaptive_cap)
        self._model = model
        self._server_kind = server_kind
        self._eos = eos_token_id
        self._max_twin_lines = max_twin_lines
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._seed = seed
        self._deadlines = deadlines
        self._format = chat_format
        self._twin_logins = tuple(twin_logins)

    @classmethod
    def from_settings(
        cls,
        settings: SimulatorSettings,
        *,
        chat_format: ChatFormat = DEFAULT_FORMAT,
        twin_logins: Collection[str] = (),
    ) -> OpenAISimulator:
        """A simulator as the settings describe it."""
        return cls(
            url=settings.url,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            server_kind=settings.server_kind,
            eos_token_id=settings.eos_token_id,
            max_twin_lines=settings.max_twin_lines,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
            deadlines=Deadlines(
                first_token_s=settings.first_token_timeout_s,
                stall_s=settings.stall_timeout_s,
                cap_s=settings.time_cap_s,
            ),
            chat_format=chat_format,
            twin_logins=twin_logins,
        )

    def prompt(self, request: SimRequest) -> str:
        """The text sent to the model for this request."""
        return render_prompt(
            request.window, request.twin, fmt=self._format, twin_logins=self._twin_logins
        )

    def _eos_ban(self) -> tuple[dict[str, object] | None, dict[str, int] | openai.Omit]:
        """The request's extra body and logit bias that keep the model from ending."""
        if self._server_kind == "vllm":
            return {"ignore_eos": True}, openai.omit
        return None, {str(self._eos): -100}

    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        """Simulated lines as each one completes, until enough lines, tokens or time."""
        prompt = self.prompt(request)
        extra_body, logit_bias = self._eos_ban()

        async def open_stream() -> _Stream[Completion]:
            return await self._client.completions.create(
                model=self._model,
                prompt=prompt,
                stream=True,
                max_tokens=self._max_tokens,
                temperature=self._temperature,
                seed=self._seed + request.draw if self._seed is not None else openai.omit,
                logit_bias=logit_bias,
                extra_body=extra_body,
            )

        parser = LineParser(request.twin, fmt=self._format)
        lines = twin_lines = 0
        finish: str | None = None
        timed = _Timed(
            open_stream, self._deadlines, SimulatorUnavailable, self.pace, self._max_tokens
        )
        chunks = timed.chunks()
        try:
            async for chunk in chunks:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                for line in parser.feed(choice.text):
                    yield line
                    lines += 1
                    twin_lines += line.is_twin
                    if lines >= request.max_lines or twin_lines >= self._max_twin_lines:
                        return
            if finish is None and not timed.capped:
                raise SimulatorUnavailable("dropped: the stream ended before it finished")
            if finish == "stop":  # the model ended on its own: its last line is whole
                for line in parser.flush():
                    yield line
            # Otherwise a cap cut the last line mid-sentence: it is left out.
        finally:
            await chunks.aclose()


def rewriter_where(settings: RewriterSettings) -> Literal["local", "external"]:
    """Whether the rewriter is on this machine; `auto` trusts only a loopback URL."""
    if settings.where != "auto":
        return settings.where
    return "local" if url_is_local(settings.url) else "external"


class OpenAIRewriter(_Adapter):
    """An instruction model fusing simulation and journal notes through chat completions."""

    def __init__(
        self,
        *,
        url: str,
        model: str,
        api_key: str | None = None,
        where: Literal["local", "external"] = "local",
        private_hits: PrivateHits = "redact",
        max_tokens: int = 120,
        temperature: float = 0.7,
        deadlines: Deadlines,
        template: FusionTemplate | None = None,
        chat_format: ChatFormat = DEFAULT_FORMAT,
        adaptive_cap: bool = True,
    ) -> None:
        super().__init__(_client(url, api_key, deadlines), adaptive_cap=adaptive_cap)
        self._model = model
        self._external = where == "external"
        self._private_hits = private_hits
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._deadlines = deadlines
        self._template = template or load_fusion_template()
        self._format = chat_format

    @classmethod
    def from_settings(
        cls,
        settings: RewriterSettings,
        *,
        template: FusionTemplate | None = None,
        chat_format: ChatFormat = DEFAULT_FORMAT,
    ) -> OpenAIRewriter:
        """A rewriter as the settings describe it."""
        return cls(
            url=settings.url,
            model=settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            where=rewriter_where(settings),
            private_hits=settings.private_hits,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            deadlines=Deadlines(
                first_token_s=settings.first_token_timeout_s,
                stall_s=settings.stall_timeout_s,
                cap_s=settings.time_cap_s,
            ),
            template=template or load_fusion_template(Path(settings.prompt)),
            chat_format=chat_format,
        )

    def messages(self, request: FusionRequest) -> list[ChatCompletionMessageParam]:
        """The chat messages sent for this request (privacy rules already applied)."""
        system, user = render_fusion(
            request,
            self._template,
            external=self._external,
            private_hits=self._private_hits,
            fmt=self._format,
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def prompt(self, request: FusionRequest) -> str:
        """The messages this request sends, as text: each under its role's heading."""
        return "\n\n".join(
            f"# {message['role']}\n{message.get('content', '')}"
            for message in self.messages(request)
        )

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        """The reply in pieces as they arrive, until the model, a token or a time cap ends it."""
        messages = self.messages(request)

        async def open_stream() -> _Stream[ChatCompletionChunk]:
            return await self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                stream=True,
                max_tokens=self._max_tokens,
                temperature=self._temperature,
            )

        finish: str | None = None
        timed = _Timed(
            open_stream, self._deadlines, RewriterUnavailable, self.pace, self._max_tokens
        )
        chunks = timed.chunks()
        said = False
        try:
            async for chunk in chunks:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                if choice.delta.content:
                    said = True
                    yield choice.delta.content
            if finish is None and not timed.capped:
                raise RewriterUnavailable("dropped: the stream ended before it finished")
            if said and (timed.capped or finish == "length"):
                cap = "time" if timed.capped else f"{self._max_tokens}-token"
                raise ReplyCut(f"the reply reached its {cap} cap")
        finally:
            await chunks.aclose()
