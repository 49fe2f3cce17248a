"""The embedded twin: a word-level Markov chain trained on the streamer's own lines.

It runs anywhere (no GPU, no network) and is honest about what it is: it recombines what the
streamer has written, it does not understand the chat. An untrained chain simulates nothing:
`stream` then ends without a line and the turn decides what silence means.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import zlib
from collections import defaultdict
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage, SimLine, Tier
from cohost.core.options import JournalSettings, SimulatorSettings
from cohost.core.ports import SimRequest
from cohost.journal.tid import parse_tags, parse_tid
from cohost.journal.tiers import tier_of
from cohost.journal.wikitext import plain_text
from cohost.text.fold import words
from cohost.text.sentences import content_words, split_sentences

log = logging.getLogger(__name__)

_EDGE = ""  # pads the start of a line in a state, and marks its end as a follower
_SEP = "\x1f"  # joins the words of a state; str.split() never leaves it inside a word
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
_LINE_ATTEMPTS = 4  # tries to avoid saying the same line twice in one simulation
_WINDOW_ORDER = 1  # a chatter has a few lines in a window: order 1 recombines them


class MarkovChain:
    """Forward and backward word chains of one order, so a line can grow both ways from a word."""

    def __init__(self, order: int = 2) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        self.order = order
        # A state is its words joined by _SEP: str keys keep the garbage collector out of training.
        self._forward: defaultdict[str, list[str]] = defaultdict(list)
        self._backward: defaultdict[str, list[str]] = defaultdict(list)
        # content word -> the forward states (ending in that word) where it occurs, in order
        self._states_by_word: defaultdict[str, dict[str, None]] = defaultdict(dict)
        self._topical: dict[str, tuple[str, ...]] = {}  # token -> its content words
        self.lines = 0

    @property
    def trained(self) -> bool:
        """Whether any line with a word has been learnt."""
        return self.lines > 0

    def train(self, lines: Iterable[str]) -> None:
        """Learn from lines of text (more calls add more lines)."""
        k = self.order
        pad = [_EDGE] * k
        forward, backward, by_word = self._forward, self._backward, self._states_by_word
        topical = self._topical
        for line in lines:
            tokens = line.split()
            if not tokens:
                continue
            self.lines += 1
            n = len(tokens) + 1
            padded = [*pad, *tokens, _EDGE]
            states = [_SEP.join(padded[i : i + k]) for i in range(n)]
            for state, follower in zip(states, padded[k:], strict=True):
                forward[state].append(follower)
            # states[j + 1] is the state that ends with tokens[j]
            for token, state in zip(tokens, states[1:], strict=True):
                found = topical.get(token)
                if found is None:
                    found = topical[token] = tuple(content_words(token))
                for word in found:
                    by_word[word][state] = None
            # The backward chain learns the line read from its end.
            padded = [*pad, *reversed(tokens), _EDGE]
            for i in range(n):
                backward[_SEP.join(padded[i : i + k])].append(padded[i + k])

    def known(self, text: str) -> list[str]:
        """The content words of text the chain can start from, rarest in the training first."""
        seen: dict[str, int] = {}
        for word in content_words(text):
            states = self._states_by_word.get(word)
            if states and word not in seen:
                seen[word] = len(states)
        return sorted(seen, key=seen.__getitem__)

    def generate(
        self, rng: random.Random, *, topic: str = "", max_words: int = 30, rank: int = 0
    ) -> str:
        """One line; it contains the rarest known word of topic when there is one (with `rank`
        n, the n-th rarest after it: another draw's start), else it is on no topic at all."""
        if not self.trained:
            return ""
        candidates = self.known(topic)
        if rank >= len(candidates):
            return " ".join(self._walk(self._forward, _SEP * (self.order - 1), rng, max_words))
        seed = rng.choice(list(self._states_by_word[candidates[rank]]))
        parts = seed.split(_SEP)
        real = [w for w in parts if w != _EDGE]
        room = max(0, max_words - len(real))
        before: list[str] = []
        if len(real) == self.order:  # the seed is not at the start of a line: grow backwards
            back = _SEP.join(reversed(parts))
            before = self._walk(self._backward, back, rng, room // 2)[::-1]
        after = self._walk(self._forward, seed, rng, room - len(before))
        return " ".join([*before, *real, *after][:max_words])

    @staticmethod
    def _walk(chain: dict[str, list[str]], state: str, rng: random.Random, limit: int) -> list[str]:
        out: list[str] = []
        while len(out) < limit:
            followers = chain.get(state)
            if not followers:
                break
            word = rng.choice(followers)
            if word == _EDGE:
                break
            out.append(word)
            cut = state.find(_SEP)
            state = word if cut < 0 else f"{state[cut + 1 :]}{_SEP}{word}"
        return out


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's hash() of str is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def streamer_lines(messages: Iterable[ChatMessage], streamer: str) -> list[str]:
    """The streamer's own chat lines, without their bot commands."""
    login = streamer.casefold()
    lines = []
    for message in messages:
        text = message.text.strip()
        if message.login.casefold() == login and text and text[0] not in "!/":
            lines.append(text)
    return lines


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(\s|$)")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE = re.compile(r"^\s*\|")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S")
_QUOTE = re.compile(r"^\s*(>\s?)+")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")
_INLINE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"<!--.*?-->", re.DOTALL), " "),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), " "),  # images: alt text is not the streamer talking
    (re.compile(r"\[\^[^\]]*\]"), ""),  # footnote marks
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]*)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<https?://[^>]*>"), " "),
    (re.compile(r"</?[A-Za-z][^>]*>"), " "),
    (re.compile(r"`+([^`]*)`+"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<!\w)([*_])(?!\s)(.+?)(?<!\s)\1(?!\w)"), r"\2"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])"), r"\1"),
)


def strip_markdown(text: str) -> str:
    """Markdown as plain prose: paragraphs separated by blank lines, no code, tables or markup."""
    lines = text.splitlines()
    if lines and lines[0].strip() in ("---", "+++"):  # front matter
        end = next((i for i, ln in enumerate(lines[1:], 1) if ln.strip() == lines[0].strip()), 0)
        lines = lines[end + 1 :] if end else lines
    out: list[str] = []
    fence = ""
    for raw in lines:
        opened = _FENCE.match(raw)
        if fence:
            if opened and opened.group(1) == fence:
                fence = ""
            continue
        if opened:
            fence = opened.group(1)
            out.append("")
            continue
        if _SETEXT.match(raw) and out and out[-1].strip():
            out[-1] = ""  # the line above was a heading
            continue
        if _HEADING.match(raw) or _RULE.match(raw) or _TABLE.match(raw):
            out.append("")
            continue
        if _REFERENCE.match(raw):
            continue
        line = _QUOTE.sub("", raw)
        item = _ITEM.match(line)
        if item:
            out.append("")  # each list item is a paragraph of its own
            line = line[item.end() :]
        out.append(line)
    plain = "\n".join(out)
    for pattern, replacement in _INLINE:
        plain = pattern.sub(replacement, plain)
    return plain


def writing_lines(text: str, *, markdown: bool) -> list[str]:
    """The sentences of a piece of writing, each paragraph's hard line breaks joined."""
    if markdown:
        text = strip_markdown(text)
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        joined = " ".join(paragraph.split())
        if joined:
            lines.extend(split_sentences(joined))
    return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class WritingTiers:
    """Which journal entries given as writings may be learnt from.

    A `.tid` file is a journal entry, and its tier binds wherever its text goes: a twin (the
    Markov chain here, a LoRA through `cohost dataset build`) that learns a line may say it
    back word for word. Secret entries are never taken; private ones (untagged entries are
    private) only when the streamer opts in (`COHOST_TWIN__PRIVATE_WRITINGS=true`).
    """

    private: bool = False
    tags: JournalSettings = field(default_factory=JournalSettings)


def _tiddler_text(path: Path, text: str, tiers: WritingTiers) -> str | None:
    """A `.tid` file's body as plain text, or None when its tier keeps it out."""
    tiddler = parse_tid(text, source=str(path))
    tier = tier_of(parse_tags(tiddler.get("tags") or ""), tiers.tags)
    if tier is Tier.SECRET or (tier is Tier.PRIVATE and not tiers.private):
        how = "" if tier is Tier.SECRET else " (set COHOST_TWIN__PRIVATE_WRITINGS=true to allow)"
        log.warning("writings: left out %s, a %s journal entry%s", path, tier, how)
        return None
    return plain_text(tiddler.text)


def read_writings(paths: Iterable[Path], tiers: WritingTiers | None = None) -> list[str]:
    """The sentences of plain-text and Markdown files (by suffix), and of journal entries
    (`.tid`) that their tier lets out (see `WritingTiers`)."""
    tiers = tiers or WritingTiers()
    lines: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"cannot read writing: {exc.strerror}", path=path) from exc
        suffix = path.suffix.casefold()
        if suffix == ".tid":
            body = _tiddler_text(path, text, tiers)
            if body is not None:
                lines.extend(writing_lines(body, markdown=False))
            continue
        lines.extend(writing_lines(text, markdown=suffix in _MARKDOWN_SUFFIXES))
    return lines


def _speaker(message: ChatMessage) -> str:
    return message.display_name or message.login


class MarkovSimulator:
    """The Simulator port over a Markov chain: the twin's lines, and other chatters' echoes."""

    def __init__(self, *, order: int = 2, seed: int | None = None, max_words: int = 30) -> None:
        if max_words < 1:
            raise ValueError(f"max_words must be positive, not {max_words}")
        self.chain = MarkovChain(order)
        self.seed = seed  # None: a fresh draw every turn; a number: the same chat, the same draw
        self.max_words = max_words

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> MarkovSimulator:
        """An untrained simulator configured by settings."""
        return cls(
            order=settings.markov_order, seed=settings.seed, max_words=settings.markov_max_words
        )

    @classmethod
    def from_sources(
        cls,
        settings: SimulatorSettings,
        *,
        messages: Iterable[ChatMessage] = (),
        streamer: str = "",
        writings: Iterable[Path] = (),
    ) -> MarkovSimulator:
        """A simulator trained on the streamer's chat lines and their writing files."""
        simulator = cls.from_settings(settings)
        if streamer:
            simulator.train(streamer_lines(messages, streamer))
        simulator.train(read_writings(writings))
        return simulator

    @property
    def trained(self) -> bool:
        """Whether it has anything to say."""
        return self.chain.trained

    def train(self, lines: Iterable[str]) -> None:
        """Learn the twin's style from more of its lines."""
        self.chain.train(lines)

    async def stream(self, request: SimRequest) -> AsyncGenerator[SimLine, None]:
        """Twin lines, each answered by a recent chatter if the window has any, up to max_lines."""
        if not self.trained or request.max_lines < 1:
            return
        window = request.window
        last_id = window[-1].id if window else ""
        # with a seed, the draw depends on it, on the message answered and on which draw it is
        # (a candidate's), so a replay repeats
        key = last_id if request.draw == 0 else f"{last_id}#{request.draw}"
        rng = random.Random() if self.seed is None else random.Random(self.seed ^ stable_hash(key))
        twin = request.twin.casefold()
        others = [m for m in window if m.login.casefold() != twin and m.text.strip()]
        # Each chatter speaks only in their own recent words; most recent first, since the
        # person being answered is the likeliest to answer back.
        echoes: dict[str, MarkovChain] = {}
        for message in reversed(others):
            name = _speaker(message)
            if name not in echoes:
                echoes[name] = MarkovChain(_WINDOW_ORDER)
            echoes[name].train([message.text])
        speakers = list(echoes)
        names = {twin, *(w for m in window for w in words(f"{m.login} {m.display_name}"))}
        names.update(words(request.twin))
        topic = _without(window[-1].text, names) if window else ""
        said: set[str] = set()
        for i in range(request.max_lines):
            await asyncio.sleep(0)  # a cancelled turn stops here, between lines
            if i % 2 == 0 or not speakers:
                # a later draw starts the twin's lines from another word of the topic
                text = self._fresh_line(self.chain, rng, topic, said, rank=request.draw)
                line = SimLine(speaker=request.twin, text=text, is_twin=True)
            else:
                speaker = speakers[(i // 2) % len(speakers)]
                text = self._fresh_line(echoes[speaker], rng, topic, said)
                line = SimLine(speaker=speaker, text=text, is_twin=False)
            if not text:
                return
            said.add(text)
            yield line
            topic = _without(text, names)

    def _fresh_line(
        self, chain: MarkovChain, rng: random.Random, topic: str, said: set[str], rank: int = 0
    ) -> str:
        text = ""
        for _ in range(_LINE_ATTEMPTS):
            text = chain.generate(rng, topic=topic, max_words=self.max_words, rank=rank)
            if text not in said:
                break
        return text


def _without(text: str, names: set[str]) -> str:
    """text with the chatters' and the twin's names left out, so they do not pick the topic."""
    return " ".join(w for w in words(text) if w not in names)
