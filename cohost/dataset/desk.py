"""What the streamer teaches the twin at its desk: choices, as DPO pairs and training examples.

At the desk the streamer sees 2-4 candidate replies to one prompt and picks one, marks them
all bad, or writes what they would really say. Three JSON-lines files under one folder
(`DATA_DIR/desk/`), each line appended whole (one write, flushed and fsynced):

- `choices.jsonl`: one line a choice, the record of what was shown and decided (`v`, `id`,
  `ts`, `kind` picked|bad|written, `source` typed|log|seed, `prompt`, `window`, `candidates`
  `[{text, model}]`, `chosen` (the index picked, or null), `written` (the streamer's own
  answer, or null)). Undo and the counts read it.
- `pairs.jsonl`: `{prompt, chosen, rejected, choice}`. `prompt` is the window rendered by
  `render_prompt` (the twin's turn left open), `chosen` and `rejected` the rest of the twin's
  line with its newline (`cohost.dataset.dpo.completion`): TRL's preference format, as
  `cohost dataset dpo` writes it; `choice` is the id of the choice it came from. A pick sets
  the picked candidate over each other one; a written answer is set over every candidate; all
  bad alone gives no pair (nothing was better), but a written answer after it does.
- `examples.jsonl`: `{text, choice}`, each written answer as a training example in the twin's
  own format (`render_example`: the header, the window, the twin's line last), as
  `cohost dataset build` writes them.

Beside pairs.jsonl and examples.jsonl lies the `.meta.json` that `cohost train` checks (the
name the twin was rendered as). A torn last line (a crash mid-write) is skipped and counted
when read, and the next append starts on a line of its own. Undo takes the last choice out of
all three files, each rewritten whole (`cohost.core.files.atomic_file`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage
from cohost.core.files import PRIVATE, append_durably, atomic_file
from cohost.core.serialise import json_line
from cohost.dataset.build import DatasetMeta, meta_path, write_meta
from cohost.dataset.dpo import completion
from cohost.text.render import (
    DEFAULT_FORMAT,
    ChatFormat,
    clean_name,
    clean_text,
    render_example,
    render_prompt,
)

FORMAT_VERSION = 1
CHOICES = "choices.jsonl"
PAIRS = "pairs.jsonl"
EXAMPLES = "examples.jsonl"
MAX_CANDIDATES = 4
MAX_ANSWER_CHARS = 500  # Twitch's own message limit: a written answer is one chat line

Kind = Literal["picked", "bad", "written"]
Source = Literal["typed", "log", "seed"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WindowLine(_Record):
    """One chat line of the prompt's window."""

    login: str
    display_name: str = ""
    text: str


class ShownCandidate(_Record):
    """A candidate reply as it was shown, and which model made it."""

    text: str
    model: str = "twin"


class ChoiceRecord(_Record):
    """One line of choices.jsonl (see the module docstring)."""

    v: int = FORMAT_VERSION
    id: str
    ts: float
    kind: Kind
    source: Source = "typed"
    prompt: str
    window: list[WindowLine] = Field(default_factory=list)
    candidates: list[ShownCandidate] = Field(default_factory=list)
    chosen: int | None = None
    written: str | None = None


class _Tagged(_Record):
    choice: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One candidate reply to a prompt, and the model that made it (twin, base, embedded)."""

    text: str
    model: str = "twin"


@dataclass(slots=True, kw_only=True)
class DeskCounts:
    """What the desk holds: choices by kind, pairs, examples, and lines it could not read."""

    choices: int = 0
    picked: int = 0
    bad: int = 0
    written: int = 0
    pairs: int = 0
    examples: int = 0
    unreadable: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as JSON-ready data."""
        return {
            "choices": self.choices,
            "picked": self.picked,
            "bad": self.bad,
            "written": self.written,
            "pairs": self.pairs,
            "examples": self.examples,
            "unreadable": self.unreadable,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """A choice as stored: its record, and the pairs and example it gave."""

    record: ChoiceRecord
    pairs: tuple[dict[str, str], ...] = ()
    example: str | None = None


@dataclass(slots=True)
class _Read:
    records: list[dict[str, Any]] = field(default_factory=list)
    unreadable: int = 0


def _read_lines(path: Path, model: type[_Record]) -> _Read:
    """The JSON objects of a file that fit `model`, as read (a torn or foreign line counted)."""
    read = _Read()
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return read
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    with file:
        for raw in file:
            if not raw.strip():
                continue
            try:
                model.model_validate_json(raw)
            except ValidationError:
                read.unreadable += 1
                continue
            # valid JSON with the fields it needs: kept as it is (its other fields too)
            read.records.append(json.loads(raw))
    return read


def _append(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Append the records, one line each, in one write, flushed to the disk.

    After a torn last line (a crash mid-write) the new lines start on a line of their own:
    the torn one stays unreadable, the new ones do not.
    """
    if not records:
        return
    data = "".join(json_line(r) for r in records).encode("utf-8")
    append_durably(path, data)


def _rewrite_without(path: Path, choice_id: str, key: str) -> None:
    """Rewrite `path` whole without the lines whose `key` is `choice_id` (unreadable ones stay)."""
    if not path.exists():
        return
    with path.open("rb") as file:
        lines = file.readlines()
    kept: list[bytes] = []
    for raw in lines:
        try:
            item = json.loads(raw)
        except ValueError:
            item = None
        if isinstance(item, dict) and item.get(key) == choice_id:
            continue
        kept.append(raw if raw.endswith(b"\n") else raw + b"\n")
    with atomic_file(path, mode=PRIVATE) as out:
        out.write(b"".join(kept))


def window_lines(window: Sequence[ChatMessage]) -> list[WindowLine]:
    """A prompt's window as stored."""
    return [WindowLine(login=m.login, display_name=m.display_name, text=m.text) for m in window]


class DeskStore:
    """The desk's three files under one folder; safe to use from several threads."""

    def __init__(
        self,
        folder: Path,
        twin: str,
        *,
        fmt: ChatFormat = DEFAULT_FORMAT,
        twin_logins: Sequence[str] = (),
    ) -> None:
        self.folder = folder
        self.twin = clean_name(twin)
        self.fmt = fmt
        self.twin_logins = tuple(twin_logins)
        self.choices = folder / CHOICES
        self.pairs = folder / PAIRS
        self.examples = folder / EXAMPLES
        self._lock = threading.Lock()

    # ---- what a choice gives ----------------------------------------------------------------

    def prompt(self, window: Sequence[ChatMessage]) -> str:
        """The window as the twin model sees it, its turn left open (a DPO pair's prompt)."""
        return render_prompt(window, self.twin, fmt=self.fmt, twin_logins=self.twin_logins)

    def completion(self, reply: str) -> str:
        """A reply as what follows the prompt (a DPO pair's chosen or rejected)."""
        return completion(reply, self.twin, fmt=self.fmt)

    def example(self, window: Sequence[ChatMessage], answer: str) -> str:
        """The window and the twin's answer as a training example (`cohost dataset build`)."""
        line = ChatMessage(
            id="desk-answer",
            channel="",
            login=self.twin.lower(),
            display_name=self.twin,
            text=answer,
            ts=window[-1].ts if window else 0.0,
        )
        return render_example(
            [*window, line], self.twin, fmt=self.fmt, twin_logins=self.twin_logins
        )

    def _pairs(
        self, prompt: str, chosen: str, rejected: Sequence[str], choice_id: str
    ) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        good = self.completion(chosen)
        seen = {good}
        for text in rejected:
            bad = self.completion(text)
            if not clean_text(text) or bad in seen:
                continue  # the same text twice is no preference
            seen.add(bad)
            out.append({"prompt": prompt, "chosen": good, "rejected": bad, "choice": choice_id})
        return out

    # ---- the three choices ------------------------------------------------------------------

    def pick(
        self,
        window: Sequence[ChatMessage],
        candidates: Sequence[Candidate],
        index: int,
        *,
        source: Source = "typed",
    ) -> Choice:
        """Candidate `index` (from 0) is the best: set over each other candidate."""
        _check(window, candidates)
        if not 0 <= index < len(candidates):
            raise InputError(f"choice {index + 1} is not one of the {len(candidates)} candidates")
        chosen = candidates[index].text
        others = [c.text for i, c in enumerate(candidates) if i != index]
        return self._store(
            "picked", window, candidates, source, chosen=index, best=chosen, worse=others
        )

    def all_bad(
        self,
        window: Sequence[ChatMessage],
        candidates: Sequence[Candidate],
        *,
        source: Source = "typed",
    ) -> Choice:
        """None of the candidates would do: kept as such, with no pair (nothing was better)."""
        _check(window, candidates)
        return self._store("bad", window, candidates, source)

    def write(
        self,
        window: Sequence[ChatMessage],
        candidates: Sequence[Candidate],
        answer: str,
        *,
        source: Source = "typed",
    ) -> Choice:
        """The streamer's own answer: set over every candidate, and a training example."""
        if len(candidates) > MAX_CANDIDATES:
            raise InputError(f"at most {MAX_CANDIDATES} candidates")
        if not window:
            raise InputError("a choice needs the prompt's chat window")
        answer = " ".join(answer.split())
        if not clean_text(answer):
            raise InputError("the written answer is empty")
        if len(answer) > MAX_ANSWER_CHARS:
            raise InputError(f"the written answer is longer than {MAX_ANSWER_CHARS} characters")
        return self._store(
            "written",
            window,
            candidates,
            source,
            written=answer,
            best=answer,
            worse=[c.text for c in candidates],
        )

    def _store(
        self,
        kind: Kind,
        window: Sequence[ChatMessage],
        candidates: Sequence[Candidate],
        source: Source,
        *,
        chosen: int | None = None,
        written: str | None = None,
        best: str | None = None,
        worse: Sequence[str] = (),
    ) -> Choice:
        prompt = self.prompt(window)
        record = ChoiceRecord(
            id=f"c-{secrets.token_hex(6)}",
            ts=time.time(),
            kind=kind,
            source=source,
            prompt=prompt,
            window=window_lines(window),
            candidates=[ShownCandidate(text=c.text, model=c.model) for c in candidates],
            chosen=chosen,
            written=written,
        )
        pairs = self._pairs(prompt, best, worse, record.id) if best is not None else []
        example = self.example(window, written) if written is not None else None
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._meta()
            # the pairs and the example first: a crash before the choice's own line leaves
            # data that undo cannot find, never a choice that claims data it does not have
            _append(self.pairs, pairs)
            if example is not None:
                _append(self.examples, [{"text": example, "choice": record.id}])
            _append(self.choices, [record.model_dump(mode="json")])
        return Choice(record=record, pairs=tuple(pairs), example=example)

    def _meta(self) -> None:
        meta = DatasetMeta.rendered(self.twin, self.fmt)
        for data in (self.pairs, self.examples):
            if not meta_path(data).exists():
                write_meta(data, meta)

    # ---- undo and counts --------------------------------------------------------------------

    def undo(self) -> ChoiceRecord | None:
        """Take the last choice out of every file; None when there is none."""
        with self._lock:
            read = _read_lines(self.choices, ChoiceRecord)
            if not read.records:
                return None
            last = ChoiceRecord.model_validate(read.records[-1])
            _rewrite_without(self.pairs, last.id, "choice")
            _rewrite_without(self.examples, last.id, "choice")
            _rewrite_without(self.choices, last.id, "id")
            return last

    def records(self) -> Iterator[ChoiceRecord]:
        """Every readable choice, oldest first."""
        for item in _read_lines(self.choices, ChoiceRecord).records:
            yield ChoiceRecord.model_validate(item)

    def counts(self) -> DeskCounts:
        """Choices by kind, pairs and examples stored, and the lines that could not be read."""
        counts = DeskCounts()
        choices = _read_lines(self.choices, ChoiceRecord)
        for item in choices.records:
            counts.choices += 1
            kind = item.get("kind")
            if kind == "picked":
                counts.picked += 1
            elif kind == "bad":
                counts.bad += 1
            elif kind == "written":
                counts.written += 1
        pairs = _read_lines(self.pairs, _PairLine)
        examples = _read_lines(self.examples, _ExampleLine)
        counts.pairs = len(pairs.records)
        counts.examples = len(examples.records)
        counts.unreadable = choices.unreadable + pairs.unreadable + examples.unreadable
        return counts


class _PairLine(_Tagged):
    prompt: str
    chosen: str
    rejected: str


class _ExampleLine(_Tagged):
    text: str


def _check(window: Sequence[ChatMessage], candidates: Sequence[Candidate]) -> None:
    if not window:
        raise InputError("a choice needs the prompt's chat window")
    if not 1 <= len(candidates) <= MAX_CANDIDATES:
        raise InputError(f"a choice is among 1 to {MAX_CANDIDATES} candidates")


def read_desk_pairs(path: Path) -> tuple[list[dict[str, str]], int]:
    """The desk's pairs as `{prompt, chosen, rejected}`, and how many lines were unreadable."""
    read = _read_lines(path, _PairLine)
    pairs = [
        {"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
        for r in read.records
    ]
    return pairs, read.unreadable


def read_desk_examples(path: Path) -> tuple[list[str], int]:
    """The desk's written answers as training example texts, and the unreadable lines."""
    read = _read_lines(path, _ExampleLine)
    return [r["text"] for r in read.records], read.unreadable
