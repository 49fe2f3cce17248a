"""Splitting text into sentences and chat-sized messages, and finding the words that carry a
topic (pure)."""

from __future__ import annotations

import re

from cohost.text.fold import words

_TOKEN = re.compile(r"\S+")
_OPENERS = "\"'([{«“‘*_"
_CLOSERS = "\"')]}»”’*_"
_TERMINAL = re.compile(r"[.!?…。！？‼⁉]+$")
_ELLIPSIS = re.compile(r"(?:\.{2,}|…+)$")
_DOTTED = re.compile(r"^(?:[a-z]\.){2,}$", re.IGNORECASE)
_INITIAL = re.compile(r"^[A-Z]\.$")
_CLAUSE_MARKS = (",", ";", ":", "—", "–")
_DASHES = frozenset({"-", "--", "—", "–"})

# Titles and Latin shorthands that sit inside a sentence.
_NEVER_END = frozenset(
    {
        "mr.", "mrs.", "ms.", "mx.", "dr.", "prof.", "sr.", "jr.", "st.", "vs.", "e.g.", "i.e.",
        "cf.", "viz.", "approx.", "fig.", "ca.", "feat.", "ft.", "aka.", "a.k.a.",
    }
)  # fmt: skip
# These end a sentence only when the next word starts with a capital.
_MAYBE_END = frozenset({"etc.", "inc.", "ltd.", "co.", "corp.", "no.", "jan.", "feb.", "aug."})

_STOP_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further get got had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself just let's like me more most much
    mustn't my myself no nor not now of off on once only or other ought our ours ourselves out
    over own really same shan't she she'd she'll she's should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they'll they're
    they've this those through to too under until up upon us very was wasn't we we'd we'll we're
    we've were weren't what what's when when's where where's which while who who's whom why
    why's will with won't would wouldn't yes yeah yep nah nope you you'd you'll you're you've
    your yours yourself yourselves ok okay oh uh um hmm lol lmao omg haha hahaha gonna wanna
    gotta im dont cant thats whats youre ive ill thing things something anything stuff one
    still even well back way make made go going know think see want say said tell told
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def content_words(text: str) -> list[str]:
    """The words that carry a topic: no stop-words, no numbers, nothing shorter than 2 letters."""
    return [w for w in words(text) if len(w) > 1 and not w.isdigit() and w not in STOP_WORDS]


def _has_alnum(token: str) -> bool:
    return any(c.isalnum() for c in token)


def _starts_upper(token: str | None) -> bool:
    if token is None:
        return True
    core = token.lstrip(_OPENERS)
    return bool(core) and core[0].isupper()


def _ends_sentence(token: str, following: str | None) -> bool:
    core = token.rstrip(_CLOSERS)
    if not _TERMINAL.search(core):
        return False
    bare = core.lstrip(_OPENERS)
    lowered = bare.casefold()
    if lowered in _NEVER_END or _INITIAL.match(bare):
        return False
    if lowered in _MAYBE_END or _DOTTED.match(bare) or _ELLIPSIS.search(core):
        return _starts_upper(following)
    return True


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence in text; line breaks end a sentence too."""
    tokens = list(_TOKEN.finditer(text))
    spans: list[tuple[int, int]] = []
    start = end = -1
    closing = False  # a sentence ended; emoji and punctuation after it still belong to it
    for i, match in enumerate(tokens):
        token = match.group()
        if start >= 0 and ("\n" in text[end : match.start()] or (closing and _has_alnum(token))):
            spans.append((start, end))
            start, closing = -1, False
        if start < 0:
            start = match.start()
        end = match.end()
        following = tokens[i + 1].group() if i + 1 < len(tokens) else None
        if _ends_sentence(token, following):
            closing = True
    if start >= 0:
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of text, in order, none empty; decimals, URLs and "e.g." stay whole."""
    return [text[a:b] for a, b in sentence_spans(text)]


def _word_pieces(sentence: str, limit: int) -> list[str]:
    pieces: list[str] = []
    for word in sentence.split():
        pieces.extend(word[i : i + limit] for i in range(0, len(word), limit))
    return pieces


def chunk_for_chat(text: str, limit: int = 500) -> list[str]:
    """Messages of at most limit characters: split between sentences, else words, else inside."""
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    chunks: list[str] = []
    current = ""
    for raw in split_sentences(text):
        sentence = " ".join(raw.split())
        pieces = [sentence] if len(sentence) <= limit else _word_pieces(sentence, limit)
        for piece in pieces:
            if not current:
                current = piece
            elif len(current) + 1 + len(piece) <= limit:
                current = f"{current} {piece}"
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


class SentenceBuffer:
    """Collects a streamed reply and hands out each sentence as soon as it is complete."""

    def __init__(
        self, *, max_chars: int | None = None, first_chunk_words: int | None = None
    ) -> None:
        """max_chars: hand out a run-on sentence in parts of at most this many characters.

        Parts end between words; a single word longer than max_chars is cut.
        first_chunk_words: the first part handed out may end at a clause (a comma, semicolon,
        colon or dash) once it holds this many words, so speech starts before the first
        sentence ends; every later part is a whole sentence.
        """
        if max_chars is not None and max_chars < 1:
            raise ValueError(f"max_chars must be positive, not {max_chars}")
        if first_chunk_words is not None and first_chunk_words < 1:
            raise ValueError(f"first_chunk_words must be positive, not {first_chunk_words}")
        self._text = ""
        self._max_chars = max_chars
        self._first_chunk_words = first_chunk_words
        self._handed_out = False

    def feed(self, piece: str) -> list[str]:
        """Add a piece of text; return the sentences it completed."""
        self._text += piece
        spans = sentence_spans(self._text)
        # The last sentence may still grow; a sentence before it is final.
        done = [self._text[a:b] for a, b in spans[:-1]]
        if len(spans) > 1:
            self._text = self._text[spans[-1][0] :]
        if not done and not self._handed_out and self._first_chunk_words is not None:
            done = self._first_clause(self._first_chunk_words)
        if self._max_chars is not None:
            done.extend(self._cut_run_on(self._max_chars))
        self._handed_out = self._handed_out or bool(done)
        return done

    def _first_clause(self, min_words: int) -> list[str]:
        text = self._text
        for match in _TOKEN.finditer(text):
            # The last word may still grow ("again," can become "again,000"): only a mark with
            # whitespace after it is known to end a clause.
            if match.end() == len(text):
                break
            token = match.group()
            if token not in _DASHES and not token.rstrip(_CLOSERS).endswith(_CLAUSE_MARKS):
                continue
            head = text[: match.end()]
            if len(words(head)) >= min_words:
                self._text = text[match.end() :]
                return [head.strip()]
        return []

    def _cut_run_on(self, max_chars: int) -> list[str]:
        parts: list[str] = []
        while len(self._text.strip()) > max_chars:
            text = self._text.lstrip()
            # Only whitespace that has more text after it marks a finished word.
            cut = text.rfind(" ", 0, max_chars + 1)
            if cut <= 0:
                cut = max_chars
            parts.append(text[:cut].strip())
            self._text = text[cut:].lstrip()
        return [p for p in parts if p]

    def flush(self) -> list[str]:
        """The rest of the text as sentences; the buffer is empty afterwards."""
        rest = split_sentences(self._text)
        self._text = ""
        return rest
