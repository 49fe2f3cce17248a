"""The one renderer: a chat window as the text the twin model sees, and its output read back.

The simulator and the dataset builder both use it, so the twin sees at inference exactly the
format it was trained on. The format itself lives in `prompts/chat.toml`.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cohost.core.events import ChatMessage, Hit, SimLine, Tier
from cohost.core.ports import FusionRequest

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
CHAT_FORMAT_FILE = PROMPTS_DIR / "chat.toml"
FUSION_FILE = PROMPTS_DIR / "fusion.md"

MAX_NAME = 25  # Twitch logins are at most 25 characters
FALLBACK_NAME = "viewer"

# Control tokens of the chat templates a model may have been trained with: Zephyr and ChatML
# (<|...|>), Llama 2 ([INST], <<SYS>>, <s>, </s>), Llama 3 (<|start_header_id|>, ...),
# Gemma (<start_of_turn>), and BOS/EOS spellings. Viewers must not be able to type them.
_TEMPLATE_TOKEN = re.compile(
    r"<\|[^<>|]{0,40}\|>"
    r"|</?s>"
    r"|\[/?INST\]"
    r"|<</?SYS>>"
    r"|<(?:start|end)_of_turn>"
    r"|</?(?:bos|eos|pad|unk)>",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s+")  # newlines of every kind included (\u2028, \x85, ...)
_NAME_DROP = re.compile(r"[^\w]")


def _drop_control(text: str) -> str:
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
        if unicodedata.category(c) != "Cf"  # zero-width joiners and direction marks hide tokens
    )


def clean_text(text: str) -> str:
    """Viewer text made safe for one rendered line: no template tokens, no line breaks."""
    text = _drop_control(text)
    previous = None
    while previous != text:  # "<|im_<|x|>start|>" must not survive as "<|im_start|>"
        previous = text
        text = _TEMPLATE_TOKEN.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def clean_name(name: str) -> str:
    """A speaker name as one word of letters, digits and underscores."""
    name = _NAME_DROP.sub("", clean_text(name))[:MAX_NAME]
    return name or FALLBACK_NAME


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatFormat:
    """How lines are written: a constant header, then `prefix speaker separator text` per line."""

    header: str
    prefix: str
    separator: str

    @classmethod
    def parse(cls, header: str, line: str) -> ChatFormat:
        """A format from its template strings, or ValueError saying what is wrong."""
        speaker_at = line.find("{speaker}")
        text_at = line.find("{text}")
        if speaker_at < 0 or text_at < 0 or text_at < speaker_at:
            raise ValueError("the line template needs {speaker} and then {text}")
        if not line.endswith("{text}"):
            raise ValueError("the line template must end with {text}")
        prefix = line[:speaker_at]
        separator = line[speaker_at + len("{speaker}") : text_at]
        if not separator.strip():
            raise ValueError("the line template needs a separator between {speaker} and {text}")
        if "\n" in prefix + separator or "{" in prefix + separator:
            raise ValueError("a line template is one line with only {speaker} and {text}")
        return cls(header=header, prefix=prefix, separator=separator)

    def line(self, speaker: str, text: str) -> str:
        """One rendered line, without its newline."""
        return f"{self.prefix}{speaker}{self.separator}{text}"

    def opening(self, speaker: str) -> str:
        """A line left open for the model; no trailing space, so tokens split as in training."""
        return f"{self.prefix}{speaker}{self.separator.rstrip()}"


def load_chat_format(path: Path = CHAT_FORMAT_FILE) -> ChatFormat:
    """The chat format from a TOML file with `header` and `line`."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    header, line = data.get("header", ""), data.get("line")
    if not isinstance(header, str) or not isinstance(line, str):
        raise ValueError(f"{path}: needs the strings header and line")
    try:
        return ChatFormat.parse(header, line)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


# The same as prompts/chat.toml (a test keeps them equal), for callers that load no file.
DEFAULT_FORMAT = ChatFormat.parse(
    "Twitch chat. {twin} is the streamer's co-host.\n\n", "{speaker}: {text}"
)


def _speaker(message: ChatMessage, twin: str, twin_logins: Collection[str]) -> str:
    if message.login.lower() in twin_logins:
        return twin
    display = message.display_name
    name = clean_name(display if display.lower() == message.login.lower() else message.login)
    if name.lower() == twin.lower():
        return name + "_"  # a viewer named like the twin must not speak as the twin
    return name


def _text(message: ChatMessage) -> str:
    text = clean_text(message.text)
    return f"*{text}*" if message.action and text else text


def render_window(
    window: Sequence[ChatMessage],
    twin: str,
    *,
    fmt: ChatFormat = DEFAULT_FORMAT,
    twin_logins: Collection[str] = (),
) -> str:
    """The header and one line per message; messages from `twin_logins` speak as the twin."""
    twin = clean_name(twin)
    logins = {login.lower() for login in (*twin_logins, twin)}
    lines = [fmt.header.replace("{twin}", twin)]
    for message in window:
        text = _text(message)
        if text:
            lines.append(fmt.line(_speaker(message, twin, logins), text) + "\n")
    return "".join(lines)


def render_prompt(
    window: Sequence[ChatMessage],
    twin: str,
    *,
    fmt: ChatFormat = DEFAULT_FORMAT,
    twin_logins: Collection[str] = (),
) -> str:
    """The window, then the twin's turn left open: what the simulator sends."""
    body = render_window(window, twin, fmt=fmt, twin_logins=twin_logins)
    return body + fmt.opening(clean_name(twin))


def render_example(
    window: Sequence[ChatMessage],
    twin: str,
    *,
    fmt: ChatFormat = DEFAULT_FORMAT,
    twin_logins: Collection[str] = (),
) -> str:
    """A training example: a window whose last message is the twin's."""
    logins = {login.lower() for login in (*twin_logins, clean_name(twin))}
    if not window or window[-1].login.lower() not in logins:
        raise ValueError("a training example must end on a line of the twin")
    return render_window(window, twin, fmt=fmt, twin_logins=twin_logins)


class LineParser:
    """Reads a streamed completion back into lines; the first line is the twin's open turn."""

    def __init__(self, twin: str, *, fmt: ChatFormat = DEFAULT_FORMAT) -> None:
        self._twin = clean_name(twin)
        self._fmt = fmt
        self._buffer = ""
        self._first = True

    def feed(self, chunk: str) -> list[SimLine]:
        """The lines this chunk completes, in order."""
        self._buffer += chunk
        *complete, self._buffer = re.split(r"\r?\n", self._buffer)
        return [line for raw in complete if (line := self._line(raw)) is not None]

    def flush(self) -> list[SimLine]:
        """The last, unterminated line (if it reads as one)."""
        raw, self._buffer = self._buffer, ""
        line = self._line(raw) if raw else None
        return [line] if line is not None else []

    def _line(self, raw: str) -> SimLine | None:
        if self._first:
            self._first = False
            return self._make(self._twin, raw)
        fmt = self._fmt
        if not raw.startswith(fmt.prefix):
            return None
        speaker, found, text = raw[len(fmt.prefix) :].partition(fmt.separator.rstrip())
        if not found or not speaker or speaker != clean_name(speaker):
            return None  # not a chat line: the model wandered off the format
        return self._make(speaker, text)

    def _make(self, speaker: str, text: str) -> SimLine | None:
        text = clean_text(text)
        if not text:
            return None
        return SimLine(speaker=speaker, text=text, is_twin=speaker.lower() == self._twin.lower())


def parse_lines(text: str, twin: str, *, fmt: ChatFormat = DEFAULT_FORMAT) -> list[SimLine]:
    """A whole completion as lines."""
    parser = LineParser(twin, fmt=fmt)
    return [*parser.feed(text), *parser.flush()]


PrivateHits = Literal["redact", "allow", "block"]

_PLACEHOLDER = re.compile(r"\{(twin|length|facts|recent|said|simulation|message|style|speaker)\}")
_SECTION = re.compile(r"^# (system|user)[ \t]*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_PROFILE = re.compile(r"\(profile:\s*(\w+)\)")
FUSION_COMPACT_FILE = PROMPTS_DIR / "fusion-compact.md"

# How a template wants its data: "sectioned" fences every block of chat or notes (for models
# that keep to instructions); "compact" writes them as plain lines and puts only the viewer's
# words in the user turn (small models copy fences and headings into their reply).
FusionProfile = Literal["sectioned", "compact"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FusionTemplate:
    """The rewriter's prompt: a system and a user message with placeholders."""

    system: str
    user: str
    profile: FusionProfile = "sectioned"

    @classmethod
    def parse(cls, text: str) -> FusionTemplate:
        """A template from Markdown with `# system` and `# user` sections.

        A comment saying `(profile: compact)` asks for the compact rendering of its data.
        """
        profiles = [m.group(1) for c in _COMMENT.findall(text) for m in _PROFILE.finditer(c)]
        profile = profiles[0] if profiles else "sectioned"
        if profile not in ("sectioned", "compact"):
            raise ValueError(f"unknown profile {profile!r}: sectioned or compact")
        parts = _SECTION.split(_COMMENT.sub("", text))
        sections = dict(zip(parts[1::2], parts[2::2], strict=True))
        if set(sections) != {"system", "user"} or len(parts) != 5:
            raise ValueError("the fusion template needs one '# system' and one '# user' section")
        return cls(
            system=sections["system"].strip(),
            user=sections["user"].strip(),
            profile="compact" if profile == "compact" else "sectioned",
        )


def load_fusion_template(path: Path = FUSION_FILE) -> FusionTemplate:
    """The fusion template from its Markdown file; `compact`/`sectioned` name the bundled ones."""
    path = {"compact": FUSION_COMPACT_FILE, "sectioned": FUSION_FILE}.get(str(path), path)
    try:
        return FusionTemplate.parse(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def hits_for_rewriter(
    hits: Sequence[Hit], *, external: bool, private_hits: PrivateHits
) -> list[tuple[Hit, bool]]:
    """The hits a rewriter may see, each with whether only that it bears on the message may pass.

    Secret hits never pass (the journal never returns them; this is the second lock). Private
    hits pass in full to a local rewriter; to an external one as `private_hits` says.
    """
    allowed: list[tuple[Hit, bool]] = []
    for hit in hits:
        if hit.tier is Tier.PUBLIC:
            allowed.append((hit, False))
        elif hit.tier is Tier.PRIVATE:
            if not external or private_hits == "allow":
                allowed.append((hit, False))
            elif private_hits == "redact":
                allowed.append((hit, True))
    return allowed


def _fenced(lines: Sequence[str], empty: str) -> str:
    body = "\n".join(lines) if lines else empty
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _note(hit: Hit, redacted: bool) -> str:
    if redacted:
        # nothing of the entry: a title or a tag the streamer wrote can say what the text does
        return "- [private, redacted] a private note of the streamer's bears on this"
    title = clean_text(hit.title) or hit.entry_id
    label = "public" if hit.tier is Tier.PUBLIC else "private, never quote"
    return f"- [{label}] {title}: {clean_text(hit.text)}"


def _length(request: FusionRequest) -> str:
    own = next((line.text for line in request.sim_lines if line.is_twin), "")
    if not own:
        return "one or two short sentences, under 200 characters"
    words = len(own.split())
    twin = clean_name(request.twin)
    return f"about {len(own)} characters ({words} words), like {twin}'s own simulated line"


def render_fusion(
    request: FusionRequest,
    template: FusionTemplate,
    *,
    external: bool = False,
    private_hits: PrivateHits = "redact",
    fmt: ChatFormat = DEFAULT_FORMAT,
) -> tuple[str, str]:
    """The rewriter's system and user messages; every piece of chat or journal is fenced data."""
    twin = clean_name(request.twin)
    notes = [
        _note(hit, redacted)
        for hit, redacted in hits_for_rewriter(
            request.hits, external=external, private_hits=private_hits
        )
    ]
    logins = {twin.lower()}
    recent = [
        fmt.line(_speaker(m, twin, logins), text)
        for m in request.window
        if m.id != request.message.id and (text := _text(m))
    ]
    simulation = [
        fmt.line(clean_name(line.speaker), clean_text(line.text)) for line in request.sim_lines
    ]
    message = [fmt.line(_speaker(request.message, twin, logins), _text(request.message))]
    said = [fmt.line(twin, text) for text in map(clean_text, request.said) if text.strip()]
    own = next((clean_text(line.text) for line in request.sim_lines if line.is_twin), "")
    speaker = _speaker(request.message, twin, logins)
    if template.profile == "compact":
        plain_said = [text for text in map(clean_text, request.said) if text.strip()]
        values = {
            "twin": twin,
            "length": _length(request),
            "facts": "\n".join(notes) or "- (nothing noted about this)",
            "recent": "\n".join(recent[-4:]),
            "said": " / ".join(plain_said[-3:]) or "(nothing yet)",
            "simulation": "\n".join(simulation),
            "style": own or "(no line)",
            "speaker": speaker,
            "message": _text(request.message),
        }
    else:
        values = {
            "twin": twin,
            "length": _length(request),
            "facts": _fenced(notes, "(no notes)"),
            "recent": _fenced(recent, "(nothing before it)"),
            "said": _fenced(said, "(nothing yet)"),
            "simulation": _fenced(simulation, "(no simulation)"),
            "style": _fenced([own] if own else [], "(no line)"),
            "speaker": speaker,
            "message": _fenced(message, ""),
        }

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    return fill(template.system), fill(template.user)
