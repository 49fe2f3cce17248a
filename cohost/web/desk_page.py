"""The twin's desk on the web app: `/desk`, where the streamer talks with the twin in private
and teaches it by choosing. Everything here needs the web token, as the dashboard does.

- `POST /desk/api/talk` `{"text", "as"}`: one private turn, answered as a chunked stream of
  JSON lines `{"topic", "data"}`: the bus events the dashboard reads (through its filter, so a
  private entry's title or text never reaches the page), `desk/piece` for each piece the voice
  says (its text and the URL of its WAV), and `desk/reply` at the end.
- `GET /desk/audio/NAME`: a piece's WAV, which the page plays in its <audio> element.
- `POST /desk/api/teach/next` `{"text"?, "as"?}`, `.../choose` `{"action", "index"?, "text"?}`,
  `.../undo`, `.../source` `{"log"?, "seed"?}`, `GET /desk/api/counts`: teaching.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cohost.core.errors import InputError

log = logging.getLogger(__name__)

PIECE = "desk/piece"
REPLY = "desk/reply"
MAX_TEXT = 500  # one chat line, as Twitch allows
MAX_LOGIN = 25  # Twitch's longest login
MAX_PATH = 1000


class DeskView(Protocol):
    """What the desk page needs from the app (`cohost.app.desk.Desk`)."""

    def message(self, text: str, *, login: str | None = None) -> object:
        """Check a desk line; InputError says what is wrong with it."""
        ...

    def talk(
        self, text: str, *, login: str | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """One private turn: (topic, payload) as it goes."""
        ...

    def about(self) -> dict[str, object]:
        """The twin's name, the streamer's, what runs the twin, where prompts come from."""
        ...

    def teach_from(self, *, log: Path | None = None, seed: Path | None = None) -> str:
        """Take the next prompts from a chat log, a seed file, or what is typed."""
        ...

    async def teach_next(
        self, *, text: str | None = None, login: str | None = None
    ) -> dict[str, object]:
        """The next prompt and its candidates."""
        ...

    def teach_choose(
        self, action: str, *, index: int | None = None, text: str | None = None
    ) -> dict[str, object]:
        """Pick a candidate, mark them all bad, or write an answer."""
        ...

    def teach_undo(self) -> dict[str, object]:
        """Take back the last choice."""
        ...

    def counts(self) -> Any:
        """What the desk holds (an object with `as_dict()`)."""
        ...

    def audio_file(self, name: str) -> Path | None:
        """A piece's WAV file, if the desk wrote it."""
        ...


Refused = Callable[..., Response | None]
JsonBody = Callable[[Request], Awaitable[dict[str, Any] | Response]]
Shown = Callable[[str, Mapping[str, object]], dict[str, object] | None]


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return str(value)[:limit] if value is not None else ""


def desk_event(topic: str, payload: Mapping[str, object], shown: Shown) -> dict[str, object] | None:
    """What the page may see of a desk turn's event: the dashboard's filter, and the pieces."""
    if topic == PIECE:
        audio = _text(payload.get("audio"), 80)
        return {
            "turn_id": _text(payload.get("turn_id"), 40),
            "text": _text(payload.get("text")),
            "audio": f"/desk/audio/{audio}" if audio else "",
        }
    if topic == REPLY:
        return {
            "turn_id": _text(payload.get("turn_id"), 40),
            "outcome": _text(payload.get("outcome"), 20),
            "reason": _text(payload.get("reason")),
            "reply": _text(payload.get("reply")),
        }
    return shown(topic, payload)


def _bad(reason: str, status: int = 400) -> Response:
    return JSONResponse({"error": reason}, status_code=status)


def _login(body: Mapping[str, Any]) -> str | Response | None:
    login = body.get("as")
    if login in (None, ""):
        return None
    if not isinstance(login, str) or len(login) > MAX_LOGIN:
        return _bad(f'"as" is a viewer\'s login, at most {MAX_LOGIN} characters')
    return login


def desk_routes(
    desk: DeskView,
    *,
    page: Callable[[Request], Awaitable[Response]],
    refused: Refused,
    json_body: JsonBody,
    shown: Shown,
    secure: Callable[[Response], Response],
) -> list[Route]:
    """The desk's routes, guarded by the web app's token and CSRF checks."""

    def answer(data: Mapping[str, object], status: int = 200) -> Response:
        return secure(JSONResponse(dict(data), status_code=status))

    async def talk(request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        text = body.get("text")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            return secure(_bad(f'expected {{"text": …}}, at most {MAX_TEXT} characters'))
        login = _login(body)
        if isinstance(login, Response):
            return secure(login)
        try:
            desk.message(text, login=login)
        except InputError as exc:
            return secure(_bad(exc.located()))

        async def lines() -> AsyncIterator[str]:
            async for topic, payload in desk.talk(text, login=login):
                data = desk_event(topic, payload, shown)
                if data is not None:
                    yield json.dumps({"topic": topic, "data": data}, ensure_ascii=False) + "\n"

        return secure(
            StreamingResponse(
                lines(),
                media_type="application/x-ndjson",
                headers={"X-Accel-Buffering": "no"},
            )
        )

    async def audio(request: Request) -> Response:
        if (refusal := refused(request, writes=False)) is not None:
            return refusal
        path = desk.audio_file(request.path_params["name"])
        if path is None:
            return secure(_bad("no such piece", 404))
        return secure(FileResponse(path, media_type="audio/wav"))

    async def counts(request: Request) -> Response:
        if (refusal := refused(request, writes=False)) is not None:
            return refusal
        try:
            held = await run_in_threadpool(desk.counts)
            return answer({"counts": held.as_dict(), **desk.about()})
        except InputError as exc:
            return secure(_bad(exc.located(), 503))

    async def teach_source(request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        paths: dict[str, Path | None] = {}
        for key in ("log", "seed"):
            value = body.get(key)
            if value not in (None, "") and (not isinstance(value, str) or len(value) > MAX_PATH):
                return secure(_bad(f'"{key}" is a file path'))
            # a path on this machine, whose owner holds the token: read as the desk reads it
            paths[key] = Path(value) if isinstance(value, str) and value else None
        try:
            where = desk.teach_from(log=paths["log"], seed=paths["seed"])
        except InputError as exc:
            return secure(_bad(exc.located()))
        return answer({"source": where})

    async def teach_next(request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        text = body.get("text")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            return secure(_bad(f'"text" is one chat line, at most {MAX_TEXT} characters'))
        login = _login(body)
        if isinstance(login, Response):
            return secure(login)
        try:
            return answer(await desk.teach_next(text=text, login=login))
        except InputError as exc:
            return secure(_bad(exc.located()))

    async def teach_choose(request: Request) -> Response:
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        action = body.get("action")
        index = body.get("index")
        text = body.get("text")
        if not isinstance(action, str):
            return secure(_bad('expected {"action": "pick" | "bad" | "write"}'))
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            return secure(_bad('"index" counts the candidates from 0'))
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            return secure(_bad(f'"text" is your answer, at most {MAX_TEXT} characters'))
        try:
            done = await run_in_threadpool(
                lambda: desk.teach_choose(action, index=index, text=text)
            )
        except InputError as exc:
            return secure(_bad(exc.located()))
        return answer(done)

    async def teach_undo(request: Request) -> Response:
        if (refusal := refused(request, writes=True)) is not None:
            return refusal
        try:
            return answer(await run_in_threadpool(desk.teach_undo))
        except InputError as exc:
            return secure(_bad(exc.located()))

    return [
        Route("/desk", page, methods=["GET"]),
        Route("/desk/api/talk", talk, methods=["POST"]),
        Route("/desk/audio/{name}", audio, methods=["GET"]),
        Route("/desk/api/counts", counts, methods=["GET"]),
        Route("/desk/api/teach/source", teach_source, methods=["POST"]),
        Route("/desk/api/teach/next", teach_next, methods=["POST"]),
        Route("/desk/api/teach/choose", teach_choose, methods=["POST"]),
        Route("/desk/api/teach/undo", teach_undo, methods=["POST"]),
    ]
