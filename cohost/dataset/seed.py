"""Opening prompts from instruction conversations (UltraChat-style) as windows for the twin.

Each conversation's first user turn becomes one chat line from a viewer, rendered with
`render_prompt` so the twin's turn is left open; a simulator may continue it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage, SimLine
from cohost.core.ports import SimRequest, Simulator
from cohost.text.render import DEFAULT_FORMAT, ChatFormat, clean_name, clean_text, render_prompt


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """The first user turn of one conversation, as a viewer's chat line."""

    message: ChatMessage
    source_line: int


def first_user_turn(record: Any) -> str:
    """The first user message of a conversation: `{"messages": [{"role", "content"}…]}`
    (OpenAI, UltraChat), `{"conversations": [{"from", "value"}…]}` (ShareGPT), or
    `{"prompt": …}`."""
    if not isinstance(record, dict):
        return ""
    messages = record.get("messages")
    if isinstance(messages, list):
        for turn in messages:
            if isinstance(turn, dict) and turn.get("role") == "user":
                content = turn.get("content")
                return content if isinstance(content, str) else ""
    conversations = record.get("conversations")
    if isinstance(conversations, list):
        for turn in conversations:
            if isinstance(turn, dict) and turn.get("from") in ("human", "user"):
                value = turn.get("value")
                return value if isinstance(value, str) else ""
    prompt = record.get("prompt")
    return prompt if isinstance(prompt, str) else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """A line that gave no opening, and why."""

    line: int
    reason: str


NO_USER_TURN = (
    'no user turn (expected {"messages": [{"role": "user", "content": …}]}, '
    '{"conversations": [{"from": "human", "value": …}]} or {"prompt": …})'
)


def read_openings(
    path: Path, *, viewer: str = "viewer", max_chars: int = 500
) -> Iterator[Opening | Skipped]:
    """A JSONL file's openings, streamed, and each line skipped with the reason.

    Twitch allows 500 characters per message: a longer opening is not chat and is skipped.
    """
    login = clean_name(viewer).lower()
    try:
        file = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    with file:
        for number, raw in enumerate(file, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON: {exc.msg}", path=path, line=number) from None
            except UnicodeDecodeError:  # json reads bytes as UTF-8 (or -16/-32) only
                raise InputError("not UTF-8 text", path=path, line=number) from None
            text = clean_text(first_user_turn(record))
            if not text:
                yield Skipped(line=number, reason=NO_USER_TURN)
                continue
            if len(text) > max_chars:
                yield Skipped(line=number, reason=f"longer than {max_chars} characters")
                continue
            yield Opening(
                message=ChatMessage(
                    id=f"seed-{number}",
                    channel="",
                    login=login,
                    display_name=viewer,
                    text=text,
                    ts=float(number),
                ),
                source_line=number,
            )


def seed_prompt(opening: Opening, twin: str, *, fmt: ChatFormat = DEFAULT_FORMAT) -> str:
    """The opening as the simulator's prompt: one viewer line, then the twin's open turn."""
    return render_prompt([opening.message], twin, fmt=fmt)


def continuation(lines: Sequence[SimLine], twin: str, *, fmt: ChatFormat = DEFAULT_FORMAT) -> str:
    """Simulated lines as the text after the prompt: the twin's first line's rest, then lines."""
    if not lines or not lines[0].is_twin:
        return ""
    name = clean_name(twin)
    first = fmt.line(name, clean_text(lines[0].text))[len(fmt.opening(name)) :]
    rest = [fmt.line(clean_name(line.speaker), clean_text(line.text)) for line in lines[1:]]
    return "\n".join([first, *rest]) + "\n"


async def continue_opening(
    simulator: Simulator, opening: Opening, twin: str, *, max_lines: int
) -> list[SimLine]:
    """The simulator's continuation of one opening."""
    request = SimRequest(window=[opening.message], twin=twin, max_lines=max_lines)
    stream = simulator.stream(request)
    try:
        return [line async for line in stream]
    finally:
        await stream.aclose()
