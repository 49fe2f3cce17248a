"""The Cornell Movie-Dialogs Corpus as training examples: a chosen character speaks as the twin.

The corpus files are ` +++$+++ `-separated, ISO-8859-1 text. Copies that were re-saved as
UTF-8 (with CRLF) are read too: each line is decoded as UTF-8 when it can be, else latin-1.
Conversations come from movie_conversations; a film that has lines but no conversations in a
partial copy is read as one running scene in line-number order (the corpus numbers lines in
script order), and the report says so.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage
from cohost.text.render import DEFAULT_FORMAT, ChatFormat, clean_name, render_example

SEPARATOR = " +++$+++ "
_LINE_ID = re.compile(r"L(\d+)")


class CornellError(InputError):
    """A corpus file missing or malformed, or a film or character that is not there."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Film:
    """One film of the corpus metadata."""

    id: str
    title: str
    year: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One line of dialogue."""

    number: int
    character_id: str
    character: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CornellFiles:
    """Where the corpus files are."""

    titles: Path
    characters: Path
    lines: Path
    conversations: Path | None

    @classmethod
    def find(
        cls, corpus: Path, *, lines: Path | None = None, conversations: Path | None = None
    ) -> CornellFiles:
        """The files in a corpus folder: the real names, else the largest `movie_lines*.txt`."""
        return cls(
            titles=_pick(corpus, "movie_titles_metadata", required=True),
            characters=_pick(corpus, "movie_characters_metadata", required=True),
            lines=lines or _pick(corpus, "movie_lines", required=True),
            conversations=conversations or _pick(corpus, "movie_conversations", required=False),
        )


def _pick(corpus: Path, stem: str, *, required: bool) -> Path:
    exact = corpus / f"{stem}.txt"
    if exact.is_file():
        return exact
    found = sorted(corpus.glob(f"{stem}*.txt"), key=lambda p: (-p.stat().st_size, p.name))
    if found:
        return found[0]
    if required:
        raise CornellError(f"no {stem}.txt (nor {stem}*.txt) here", path=corpus)
    return corpus / f"{stem}.txt"


def _records(path: Path, fields: int) -> Iterator[tuple[int, list[str]]]:
    try:
        file = path.open("rb")
    except OSError as exc:
        raise CornellError(f"cannot read: {exc.strerror or exc}", path=path) from None
    with file:
        for number, raw in enumerate(file, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            parts = text.split(SEPARATOR, fields - 1)
            if len(parts) != fields:
                raise CornellError(
                    f"expected {fields} fields separated by {SEPARATOR.strip()!r}",
                    path=path,
                    line=number,
                )
            yield number, parts


def read_films(path: Path) -> dict[str, Film]:
    """Films by id from movie_titles_metadata."""
    return {
        p[0].strip(): Film(id=p[0].strip(), title=p[1].strip(), year=p[2].strip())
        for _, p in _records(path, 6)
    }


@dataclass(slots=True, kw_only=True)
class Corpus:
    """The metadata of every film, and the lines and conversations of the chosen ones."""

    files: CornellFiles
    films: dict[str, Film]
    characters: dict[str, dict[str, str]] = field(default_factory=dict)  # film -> id -> name
    lines: dict[str, dict[int, Line]] = field(default_factory=dict)  # film -> number -> line
    conversations: dict[str, list[list[int]]] = field(default_factory=dict)
    films_with_lines: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, files: CornellFiles, film_ids: Sequence[str]) -> Corpus:
        """Metadata of all films; lines and conversations of `film_ids` only (streamed)."""
        corpus = cls(files=files, films=read_films(files.titles))
        wanted = set(film_ids)
        for _, p in _records(files.characters, 6):
            if p[2].strip() in wanted:
                corpus.characters.setdefault(p[2].strip(), {})[p[0].strip()] = p[1].strip()
        lines: dict[str, dict[int, Line]] = defaultdict(dict)
        for number, p in _records(files.lines, 5):
            film = p[2].strip()
            corpus.films_with_lines.add(film)
            if film not in wanted:
                continue
            found = _LINE_ID.fullmatch(p[0].strip())
            if found is None:
                raise CornellError(f"bad line id {p[0]!r}", path=files.lines, line=number)
            n = int(found.group(1))
            lines[film][n] = Line(
                number=n, character_id=p[1].strip(), character=p[3].strip(), text=p[4].strip()
            )
        corpus.lines = dict(lines)
        if files.conversations is not None and files.conversations.is_file():
            for _, p in _records(files.conversations, 4):
                film = p[2].strip()
                if film in wanted:
                    numbers = [int(n) for n in _LINE_ID.findall(p[3])]
                    corpus.conversations.setdefault(film, []).append(numbers)
        return corpus


def resolve_film(films: dict[str, Film], wanted: str) -> Film:
    """A film by id (m377) or title (case-insensitive), or CornellError naming near matches."""
    key = wanted.strip().casefold()
    if key in films:
        return films[key]
    by_title = [f for f in films.values() if f.title.casefold() == key]
    if len(by_title) == 1:
        return by_title[0]
    if len(by_title) > 1:
        listed = ", ".join(f"{f.id} ({f.year})" for f in by_title)
        raise CornellError(f"several films are titled {wanted!r}: {listed}; name one by its id")
    near = difflib.get_close_matches(key, [f.title.casefold() for f in films.values()], n=5)
    titles = {f.title.casefold(): f for f in films.values()}
    hint = ", ".join(f"{titles[t].title!r} ({titles[t].id})" for t in near)
    raise CornellError(
        f"no film {wanted!r} in the corpus" + (f"; did you mean {hint}?" if hint else "")
    )


def resolve_characters(names: dict[str, str], film: Film, wanted: Sequence[str]) -> dict[str, str]:
    """Character ids of `wanted` names (case-insensitive) in a film, or CornellError."""
    chosen: dict[str, str] = {}
    upper = {cid: name.casefold() for cid, name in names.items()}
    for name in wanted:
        key = name.strip().casefold()
        ids = [cid for cid, n in upper.items() if key in (n, cid)]
        if not ids:
            near = difflib.get_close_matches(key, sorted(set(upper.values())), n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(n.upper() for n in near)}?" if near else ""
            everyone = ", ".join(sorted(names.values()))
            raise CornellError(
                f"no character {name!r} in {film.title!r} ({film.id}){hint}; "
                f"its characters: {everyone}"
            )
        for cid in ids:
            chosen[cid] = names[cid]
    return chosen


def _login(name: str) -> str:
    return re.sub(r"\W+", "_", name.casefold()).strip("_") or "someone"


def _addressed_by_name(names: Iterable[str]) -> re.Pattern[str] | None:
    """Where another character calls a chosen one by name ("Bianca, wait!", "Hey Bianca?").

    Others call the twin by the twin's name, as chat does. Only the name as written for a
    person (Bianca, BIANCA) and only just before punctuation or the end of the line, where
    one calls someone: a character named WILL or MAN leaves "I will go" and "a man of honor"
    alone. Names under three letters are left out.
    """
    forms: set[str] = set()
    for name in names:
        core = name.strip().strip(".,;:!?'\"")
        if len(core) >= 3:
            forms |= {core.title(), core.upper()}
    if not forms:
        return None
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?=\s*(?:[,.;:!?]|$))")


def film_examples(
    corpus: Corpus,
    film: Film,
    character_ids: dict[str, str],
    twin: str,
    *,
    window: int,
    fmt: ChatFormat = DEFAULT_FORMAT,
) -> tuple[list[str], bool]:
    """Examples from one film, and whether real conversations were used (else script order)."""
    lines = corpus.lines.get(film.id)
    if not lines:
        held = sorted(corpus.films_with_lines, key=lambda f: int(f[1:]) if f[1:].isdigit() else 0)
        span = f"{held[0]}..{held[-1]}" if held else "none"
        raise CornellError(
            f"{film.title!r} ({film.id}) is in the metadata, but its lines are not in "
            f"{corpus.files.lines.name} (a partial copy: it holds films {span}); "
            "point --lines at the full movie_lines.txt",
        )
    scenes = corpus.conversations.get(film.id)
    from_conversations = bool(scenes)
    if not scenes:
        scenes = [sorted(lines)]
    twin_login = clean_name(twin).lower()
    called = _addressed_by_name(character_ids.values())
    examples: list[str] = []
    for scene in scenes:
        messages: list[ChatMessage] = []
        for n in scene:
            line = lines.get(n)
            if line is None or not line.text:
                continue
            mine = line.character_id in character_ids
            login = twin_login if mine else _login(line.character)
            text = line.text if mine or called is None else called.sub(clean_name(twin), line.text)
            if not mine and login == twin_login:
                login += "_"  # a character who only shares the twin's name is not the twin
            messages.append(
                ChatMessage(
                    id=f"L{n}",
                    channel=film.id,
                    login=login,
                    display_name=twin if mine else login.title(),
                    text=text,
                    ts=float(n),
                )
            )
            if mine and len(messages) > 1:
                examples.append(render_example(messages[-window:], twin, fmt=fmt))
    return examples, from_conversations


def choose_characters(
    corpus: Corpus, films: Sequence[Film], names: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Per film, the ids of the named characters in it; CornellError for a name in none."""
    chosen: dict[str, dict[str, str]] = {film.id: {} for film in films}
    for name in names:
        found = False
        for film in films:
            try:
                chosen[film.id].update(
                    resolve_characters(corpus.characters.get(film.id, {}), film, [name])
                )
                found = True
            except CornellError:
                continue
        if not found:
            if len(films) == 1:
                resolve_characters(corpus.characters.get(films[0].id, {}), films[0], [name])
            every = sorted({n for f in films for n in corpus.characters.get(f.id, {}).values()})
            near = difflib.get_close_matches(name.upper(), every, n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            titles = ", ".join(repr(f.title) for f in films)
            raise CornellError(f"no character {name!r} in {titles}{hint}")
    for film in films:
        if not chosen[film.id]:
            raise CornellError(
                f"none of {', '.join(names)} speaks in {film.title!r} ({film.id}); its "
                f"characters: {', '.join(sorted(corpus.characters.get(film.id, {}).values()))}"
            )
    return chosen
