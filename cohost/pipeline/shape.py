"""Keeping only the twin's own words from a rewriter's stream (pure, incremental).

Asked for the twin's next line, an instruction model sometimes writes it the way the chat in its
prompt is written: as a chat line (`twin: hi`, `**twin:** hi`), in quotes, or followed by the
next lines of chat (`\\nana: lol`). None of that is the twin speaking. A speaker label read out
loud sounds broken, and a line for a viewer puts words in a real person's mouth, in the twin's
voice. `ReplyShaper` removes these as the stream arrives:

- a label naming the twin, at the start of any line, is dropped;
- a line labelled with another speaker of the window or the simulation ends the reply, once the
  twin has said something (before that, the line is skipped: the twin's line may follow);
- quotes around the whole first line are dropped.

A colon after any other word (`PSA: …`, `10:30`, `https://…`) is left alone. The shaper holds
back only the start of a line until it can tell a label from words, a few characters at most.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A speaker label at a line's start, decided once a visible character follows it.
_MARKUP = r"(?:\*\*|__)?"
_NAME = rf"[ \t]*(?P<open>[\"“][ \t]*)?{_MARKUP}@?(?P<name>\w[\w.-]{{0,39}}){_MARKUP}[ \t]*[:：]"
# After the colon: the bold's closing marks ("**twin:** hi"), or anything but a mark right at
# it ("twin: *waves*" is a label before an emote; "twin:*" waits for what follows).
_LABEL = re.compile(rf"{_NAME}(?:\*\*|__|(?![*_]))[ \t]*(?=\S)")
_LABEL_AT_END = re.compile(rf"{_NAME}{_MARKUP}[ \t]*$")
# What could still become a label as more of the line arrives.
_PARTIAL = re.compile(
    r"[ \t]*(?:[\"“][ \t]*)?(?:\*\*?|__?)?@?(?P<name>\w[\w.-]{0,39})?(?:\*\*?|__?)?[ \t]*"
    r"(?:[:：](?:\*\*?|__?)?[ \t]*)?"
)
_OPEN_QUOTES = {'"': '"', "“": "”"}


def _key(name: str) -> str:
    return name.casefold().lstrip("@")


class ReplyShaper:
    """Feed it the rewriter's pieces; it returns the text that is the twin's own, as it can."""

    def __init__(self, twin_names: Iterable[str], other_names: Iterable[str] = ()) -> None:
        self._twin = {_key(name) for name in twin_names if name}
        self._others = {_key(name) for name in other_names if name} - self._twin
        self._held = ""  # the start of a line, until it is known to be a label or words
        self._line_start = True
        self._first_line = True
        self._skipping = False  # inside another speaker's line, before the twin said anything
        self._skips = 0  # such lines so far
        self._skipped = ""  # the first one's words: the reply, if the twin says nothing at all
        self._closer = ""  # the quote that would close the first line's opening one
        self._close_held = ""  # that quote, and the spaces after it, until the line goes on
        self._said = False  # the twin has said something
        self.done = False  # another speaker's line began: the rest is not the reply
        self._label_only = False  # the line held so far was only the twin's label
        self.changes: list[str] = []  # what was taken out, for the trace

    def feed(self, piece: str) -> str:
        """The part of the reply that can be passed on now."""
        out: list[str] = []
        for char in piece:
            if self.done:
                break
            out.append(self._char(char))
        return "".join(out)

    def flush(self) -> str:
        """What was still held, at the end of the stream."""
        out = ""
        if self._line_start and self._held and not self.done:
            out = self._decide(final=True)
        if self._close_held:
            self.changes.append("the quotes around the reply")
            self._close_held = ""
        if not self._said and self._skipped.strip():
            # the model wrote lines for others only: the first is still all the reply it offers
            self.changes.append("that line's words kept: the model gave nothing else")
            skipped, self._skipped, self._skipping = self._skipped, "", False
            out += self._release(skipped)
        return out

    def _char(self, char: str) -> str:
        if self._skipping:
            if char == "\n":
                self._skipping, self._line_start = False, True
            elif self._skips == 1:
                self._skipped += char
            return ""
        if self._line_start:
            if char == "\n":
                return self._line_ends()
            self._held += char
            return self._decide(final=False)
        return self._in_line(char)

    def _line_ends(self) -> str:
        """A line break while its start is held: a label alone on its line is still a label."""
        self._label_only = False
        out = self._decide(final=True)
        if self.done:
            return out
        if self._skipping:  # another speaker's label alone: their line ends here
            self._skipping, self._line_start = False, True
            return out
        if self._label_only:  # the twin's label alone: its words start on the next line
            self._line_start = True
            return out
        return out + self._in_line("\n")

    def _in_line(self, char: str) -> str:
        """A character past a line's start; a quote that may close the first line is held."""
        if self._close_held:
            if char in " \t":
                self._close_held += char
                return ""
            spaces = self._close_held[1:]
            self._close_held, self._closer = "", ""
            # Words after it: the opening quote was a quotation's, not the reply's, and it is
            # gone already, so this one goes too rather than stand alone.
            self.changes.append("the quotes around the reply")
            if char != "\n":
                return spaces + self._in_line(char)
        elif self._closer and char == self._closer:
            self._close_held = char
            return ""
        if char == "\n":
            self._line_start, self._first_line, self._closer = True, False, ""
        elif not char.isspace():
            self._said = True
        return char

    def _decide(self, *, final: bool) -> str:
        """The held start of a line once it is a label or words; "" while it may be either."""
        held = self._held
        match = (_LABEL_AT_END if final else _LABEL).match(held)
        if match is None:
            if not final and self._may_be_label(held):
                return ""
            self._held, self._line_start = "", False
            return self._release(held)
        self._held, self._line_start = "", False
        name = _key(match["name"])
        if name in self._twin:
            self.changes.append(f"the label {match['name']!r}")
            if match["open"] and self._first_line:
                self._closer = _OPEN_QUOTES[match["open"].strip()]
            rest = held[match.end() :]
            self._label_only = not rest
            return self._release(rest)
        if name not in self._others or "@" in held[: match.start("name")]:
            return self._release(held)  # a colon after some other word, or "@ana:": words
        if self._said:
            self.done = True
            self.changes.append(f"the lines after the reply, from {match['name']!r} on")
        else:
            self._skipping = True
            self.changes.append(f"a line for {match['name']!r}")
            self._skips += 1
            if self._skips == 1:
                self._skipped = held[match.end() :]
        return ""

    def _may_be_label(self, held: str) -> bool:
        """Whether more of the line could make this a label the shaper acts on."""
        partial = _PARTIAL.fullmatch(held)
        if partial is None:
            return False
        name = _key(partial["name"] or "")
        return any(known.startswith(name) for known in (*self._twin, *self._others))

    def _release(self, text: str) -> str:
        """The start of a line, known to be words: the first line's opening quote comes off."""
        if self._first_line and not self._closer:
            stripped = text.lstrip()
            if stripped[:1] in _OPEN_QUOTES:
                self._closer = _OPEN_QUOTES[stripped[0]]
                text = stripped[1:].lstrip()
        return "".join(self._in_line(char) for char in text)
