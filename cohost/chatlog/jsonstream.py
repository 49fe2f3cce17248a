"""An incremental walk over one JSON document: the top-level container, one value at a time.

Only the outer structure is scanned by hand; every item is decoded by `json.JSONDecoder.raw_decode`
over a sliding buffer, so a 1 GB list of comments never sits in memory at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import TextIO

CHUNK = 1 << 16
MAX_VALUE = 64 << 20  # one item larger than this is taken as broken JSON, not read on forever
# json's decoder recurses once per level: a value nested past the interpreter's recursion limit
# (about 1,000 levels, as deep as no chat log goes) is refused with its line, not a crash.
TOO_DEEP = "a JSON value nested too deep (over about 1,000 levels)"
_SPACE = re.compile(r"[ \t\r\n]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
_WS = frozenset(" \t\r\n")
_NUMBERS = (int, float)


class JsonShapeError(ValueError):
    """The document is not JSON of the expected shape; carries the line it was found on."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class JsonStream:
    """Reads a JSON document from a text stream on demand."""

    def __init__(self, f: TextIO, chunk: int = CHUNK) -> None:
        self._f = f
        self._chunk = chunk
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # line number at self._counted
        self._counted = 0
        self._newlines = False  # whether the buffer holds a line break at all
        self._decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        """Append more text to the buffer, dropping what is consumed; False at the end."""
        if self._eof:
            return False
        pending = len(self._buf) - self._pos
        if pending > MAX_VALUE:
            raise JsonShapeError("a JSON value larger than 64 MiB, or broken JSON", self.line())
        data = self._f.read(max(self._chunk, pending))  # grows geometrically for big items
        if not data:
            self._eof = True
            return False
        self._line += self._buf.count("\n", self._counted, self._pos)
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        self._counted = 0
        self._newlines = "\n" in self._buf
        return True

    def line(self) -> int:
        """The line number of the read position."""
        self._line += self._buf.count("\n", self._counted, self._pos)
        self._counted = self._pos
        return self._line

    def peek(self) -> str:
        """The next character that is not white space, or '' at the end of the text."""
        while True:
            match = _SPACE.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        """Consume one structural character or fail."""
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "the end of the file"
            raise JsonShapeError(f"expected {char!r} in the JSON, found {shown}", self.line())
        self._pos += 1

    def value(self) -> object:
        """Decode the next whole value."""
        if not self.peek():
            raise JsonShapeError("the JSON ends early (truncated file?)", self.line())
        return self._decode()

    def _decode(self) -> object:
        """Decode the value that starts at the read position (white space already skipped)."""
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise JsonShapeError(f"invalid JSON: {exc.msg}", self.line()) from None
            except ValueError as exc:  # a number past Python's int digit limit (4300)
                raise JsonShapeError(f"invalid JSON: {exc}", self.line()) from None
            except RecursionError:
                raise JsonShapeError(TOO_DEEP, self.line()) from None
            # A number cut by the end of the buffer (`12` of `12.5`) may go on in the next chunk.
            if (
                type(value) in (int, float)
                and _NUMBER_TAIL.fullmatch(self._buf, end)
                and self._fill()
            ):
                continue
            self._pos = end
            return value

    def skip_value(self) -> None:
        """Decode and drop the next value."""
        self.value()

    def items(self) -> Iterator[tuple[int, int, object]]:
        """The elements of the array that starts here, as (1-based index, line, value)."""
        self.expect("[")
        if self.peek() == "]":
            self._pos += 1
            return
        # `peek`, `line` and `_decode` inlined for the usual item (it starts at most one space
        # after the comma and ends inside the buffer); anything else takes those methods.
        # What raw_decode calls; typeshed leaves the attribute out of JSONDecoder.
        scan: Callable[[str, int], tuple[object, int]] = self._decoder.scan_once  # type: ignore[attr-defined]
        index = 0
        while True:
            index += 1
            buf = self._buf
            pos = self._pos
            size = len(buf)
            if pos < size and buf[pos] in _WS:
                pos += 1
            if pos >= size or buf[pos] in _WS:
                self._pos = pos
                if not self.peek():
                    raise JsonShapeError("the JSON ends early (truncated file?)", self.line())
                buf = self._buf
                pos = self._pos
            if self._newlines:  # a buffer without one (compact JSON) leaves the line as it is
                self._line += buf.count("\n", self._counted, pos)
                self._counted = pos
            line = self._line
            try:
                value, end = scan(buf, pos)
            except (StopIteration, json.JSONDecodeError):
                # Cut by the end of the buffer, or broken: read on, then the careful path decodes
                # the item or says what is wrong with it.
                self._pos = pos
                self._fill()
                value = self._decode()
            except (ValueError, RecursionError):
                self._pos = pos
                value = self._decode()
            else:
                if type(value) in _NUMBERS and _NUMBER_TAIL.fullmatch(buf, end):
                    self._pos = pos
                    value = self._decode()
                else:
                    self._pos = end
            yield index, line, value
            buf = self._buf
            pos = self._pos
            found = buf[pos] if pos < len(buf) else ""
            if not found or found in _WS:
                found = self.peek()
            if found == ",":
                self._pos += 1
            elif found == "]":
                self._pos += 1
                return
            else:
                shown = repr(found) if found else "the end of the file"
                raise JsonShapeError(f"expected ',' or ']' after item {index}, found {shown}", line)

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here; the caller reads each value before the next."""
        self.expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise JsonShapeError("an object key is not a string", self.line())
            self.expect(":")
            yield key
            found = self.peek()
            if found == ",":
                self._pos += 1
            elif found == "}":
                self._pos += 1
                return
            else:
                shown = repr(found) if found else "the end of the file"
                raise JsonShapeError(
                    f"expected ',' or '}}' after {key!r}, found {shown}", self.line()
                )
