"""Import from TiddlyWiki (a `.tid` folder, a JSON export, a single-file HTML) and export to it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from cohost.core.errors import JournalFormatError
from cohost.core.files import write_atomic
from cohost.journal.store import Entry, JournalStore
from cohost.journal.tid import Tiddler, check_field, format_tags, parse_tid, parse_tw_date

# TiddlyWiki's JSON: a list of objects of string fields (some tools write tags as a list).
_JSON_TIDDLERS: TypeAdapter[list[dict[str, str | int | float | list[str] | None]]] = TypeAdapter(
    list[dict[str, str | int | float | list[str] | None]]
)
_LIST_FIELDS = ("tags", "list")
_BINARY_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".bmp", ".tif", ".tiff",
    ".pdf", ".mp3", ".mp4", ".ogg", ".wav", ".webm", ".woff", ".woff2", ".ttf", ".otf",
    ".zip",
}  # fmt: skip


@dataclass(slots=True, kw_only=True)
class Source:
    """What a file or folder held, sorted into what can be imported and what cannot."""

    tiddlers: list[Tiddler] = field(default_factory=list)
    system: int = 0  # `$:/` tiddlers left out
    binary: int = 0  # images, `.meta` files and other non-text tiddlers left out
    other_files: int = 0  # files in a folder that are no tiddlers at all
    problems: list[JournalFormatError] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """What an import did, count by count."""

    imported: tuple[Entry, ...]
    duplicates: int  # same title and created as an entry already there
    system: int
    binary: int
    other_files: int
    problems: tuple[JournalFormatError, ...]


def read_source(path: Path, *, include_system: bool = False) -> Source:
    """Tiddlers from a folder of `.tid` files, a `.tid`, a JSON export or a single-file wiki."""
    found = Source()
    if path.is_dir():
        raw = _read_folder(path, found)
    elif path.suffix.lower() == ".tid":
        raw = _read_tid_files([path], found)
    elif path.suffix.lower() == ".json":
        raw = _tiddlers_from_json(_read_text(path), source=str(path), found=found)
    elif path.suffix.lower() in (".html", ".htm"):
        raw = _read_html(path, found)
    else:
        raise JournalFormatError(
            "not a folder, .tid, .json or .html file; cannot tell what it holds", path=path
        )
    for tiddler in raw:
        if tiddler.is_system and not include_system:
            found.system += 1
        elif not _is_text(tiddler):
            found.binary += 1
        else:
            found.tiddlers.append(tiddler)
    return found


def import_into(store: JournalStore, path: Path, *, include_system: bool = False) -> ImportReport:
    """Add what `path` holds to the store, skipping entries it already has (same title+created)."""
    source = read_source(path, include_system=include_system)
    problems = list(source.problems)
    imported, duplicates = _add_new(store, source.tiddlers, problems)
    return ImportReport(
        imported=tuple(imported),
        duplicates=duplicates,
        system=source.system,
        binary=source.binary,
        other_files=source.other_files,
        problems=tuple(problems),
    )


def export_tid_folder(store: JournalStore, folder: Path) -> int:
    """Copy every entry as a `.tid` into `folder` (e.g. a wiki's `tiddlers/`); new ones only."""
    problems: list[JournalFormatError] = []
    target = JournalStore(folder, store.settings)
    written, _ = _add_new(target, [t for _, t in store.tiddlers()], problems)
    return len(written)


def _add_new(
    store: JournalStore, tiddlers: Iterable[Tiddler], problems: list[JournalFormatError]
) -> tuple[list[Entry], int]:
    # Never overwrite, never double: an entry with the same title and created is already there.
    have = {_identity(t) for _, t in store.tiddlers(problems.append)}
    added: list[Entry] = []
    duplicates = 0
    for tiddler in tiddlers:
        key = _identity(tiddler)
        if key in have:
            duplicates += 1
            continue
        added.append(store.add_tiddler(tiddler))
        have.add(key)
    return added, duplicates


def export_json(store: JournalStore, dest: Path) -> int:
    """Write every entry into one JSON file that TiddlyWiki imports (drag it onto a wiki)."""
    items = [tiddler_to_json(t) for _, t in store.tiddlers()]
    data = json.dumps(items, ensure_ascii=False, indent=1) + "\n"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; export refuses to overwrite it")
    write_atomic(dest, data)  # 0600: private entries are in it
    return len(items)


def tiddler_to_json(t: Tiddler) -> dict[str, str]:
    """A tiddler as one object of TiddlyWiki's JSON format: every field a string."""
    return {"title": t.title, **dict(t.fields), "text": t.text}


def _identity(t: Tiddler) -> tuple[str, datetime | None]:
    try:
        return t.title, t.created
    except ValueError:
        return t.title, None


def _is_text(t: Tiddler) -> bool:
    kind = (t.get("type") or "").strip().lower()
    return not kind or kind.startswith("text/")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JournalFormatError(f"not UTF-8 ({exc.reason})", path=path) from None


def _read_folder(folder: Path, found: Source) -> list[Tiddler]:
    tids: list[Path] = []
    described: set[Path] = set()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for p in files:
        if p.suffix == ".meta":
            # A binary tiddler: the file beside it holds the bytes, this one the fields.
            found.binary += 1
            described.add(p.with_suffix(""))
    for p in files:
        if p.suffix == ".tid":
            tids.append(p)
        elif p.suffix == ".meta" or p in described:
            continue
        elif p.suffix.lower() in _BINARY_EXTENSIONS:
            found.binary += 1
        else:
            found.other_files += 1
    return _read_tid_files(tids, found)


def _read_tid_files(paths: Iterable[Path], found: Source) -> list[Tiddler]:
    out = []
    for path in paths:
        try:
            out.append(parse_tid(_read_text(path), source=str(path)))
        except JournalFormatError as exc:
            found.problems.append(exc)
    return out


def _tiddlers_from_json(text: str, *, source: str, found: Source) -> list[Tiddler]:
    try:
        items = _JSON_TIDDLERS.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        line = _json_error_line(text)
        at = f" at {where}" if where else ""
        reason = f"not TiddlyWiki JSON (a list of objects of strings){at}: {first['msg']}"
        raise JournalFormatError(reason, path=source, line=line) from None
    out = []
    for index, item in enumerate(items):
        try:
            out.append(_tiddler_from_fields(item, where=f"tiddler #{index + 1}"))
        except ValueError as exc:
            found.problems.append(JournalFormatError(str(exc), path=source))
    return out


def _json_error_line(text: str) -> int | None:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.lineno
    except RecursionError:  # nested past Python's limit: the validator said so already
        return None
    return None


def _tiddler_from_fields(
    item: dict[str, str | int | float | list[str] | None], where: str
) -> Tiddler:
    values: dict[str, str] = {}
    for name, value in item.items():
        if value is None:
            continue
        if isinstance(value, list):
            values[name] = format_tags(value) if name in _LIST_FIELDS else " ".join(value)
        else:
            values[name] = str(value)
    title = values.pop("title", "").strip()
    if not title:
        raise ValueError(f"{where} has no title")
    try:
        check_field("title", title)  # a title spanning lines cannot head a .tid
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    text = values.pop("text", "")
    values.pop("bag", None)  # TiddlyWeb's storage detail, not part of the tiddler
    fields = []
    for name, raw in values.items():
        value = raw.strip()
        try:
            check_field(name, value)
            if name in ("created", "modified") and value:
                parse_tw_date(value)
        except ValueError as exc:
            raise ValueError(f"{where} ({title!r}): {exc}") from None
        fields.append((name, value))
    return Tiddler(title=title, text=text.replace("\r\n", "\n"), fields=tuple(fields))


def _read_html(path: Path, found: Source) -> list[Tiddler]:
    return _tiddlers_from_html(_read_text(path), source=str(path), found=found)


def _tiddlers_from_html(text: str, *, source: str, found: Source) -> list[Tiddler]:
    parser = _WikiParser()
    parser.feed(text)
    parser.close()
    out: list[Tiddler] = []
    for block in parser.json_blocks:
        # TiddlyWiki writes `<` as \u003C inside these blocks, so the JSON is plain JSON.
        out.extend(_tiddlers_from_json(block, source=source, found=found))
    for index, attrs in enumerate(parser.div_tiddlers):
        try:
            out.append(_tiddler_from_fields(dict(attrs), where=f"store-area tiddler #{index + 1}"))
        except ValueError as exc:
            found.problems.append(JournalFormatError(str(exc), path=source))
    return out


class _WikiParser(HTMLParser):
    """Finds `<script class="tiddlywiki-tiddler-store">` blocks and `#storeArea` tiddler divs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.json_blocks: list[str] = []
        self.div_tiddlers: list[dict[str, str]] = []
        self._script: list[str] | None = None
        self._store_depth = 0  # div depth inside #storeArea; 0 outside it
        self._tiddler: dict[str, str] | None = None
        self._tiddler_depth = 0
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and "tiddlywiki-tiddler-store" in a.get("class", "").split():
            self._script = []
        elif tag == "div":
            if self._store_depth:
                self._store_depth += 1
                if self._tiddler is None and "title" in a:
                    self._tiddler = a
                    self._tiddler_depth = self._store_depth
            elif a.get("id") == "storeArea":
                self._store_depth = 1
        elif tag == "pre" and self._tiddler is not None and self._text is None:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.json_blocks.append("".join(self._script))
            self._script = None
        elif tag == "pre" and self._text is not None and self._tiddler is not None:
            self._tiddler["text"] = "".join(self._text)
            self._text = None
        elif tag == "div" and self._store_depth:
            if self._tiddler is not None and self._store_depth == self._tiddler_depth:
                self.div_tiddlers.append(self._tiddler)
                self._tiddler = None
            self._store_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        elif self._text is not None:
            self._text.append(data)
