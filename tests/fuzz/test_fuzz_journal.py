"""Fuzzing the `.tid` parser and the TiddlyWiki importers (folders, JSON exports, HTML wikis)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from cohost.core.errors import JournalFormatError
from cohost.journal.io import read_source
from cohost.journal.tid import Tiddler, format_tags, format_tid, parse_tags, parse_tid
from tests.fuzz import fuzz

TID_FRAGMENTS = (
    "title: ",
    "tags: ",
    "created: ",
    "modified: ",
    "20240106101500123",
    "2024010610",
    "99999999999999999",
    "type: text/vnd.tiddlywiki",
    "text: ",
    ": ",
    ":",
    "\n",
    "\r\n",
    "\n\n",
    " ",
    "[[",
    "]]",
    "$:/",
    "\xa0",
    "\u2028",
)
tid_like = st.lists(
    st.one_of(st.sampled_from(TID_FRAGMENTS), st.text(max_size=10)), max_size=20
).map("".join)

_LOCATED = re.compile(r"^(?P<source>.+?):(?P<line>\d+): .+", re.DOTALL)


@fuzz(200)
@given(text=st.one_of(tid_like, st.text(max_size=200)))
def test_parse_tid_returns_a_tiddler_or_names_the_line(text: str) -> None:
    try:
        tiddler = parse_tid(text, source="entry.tid")
    except JournalFormatError as exc:
        located = _LOCATED.match(str(exc))
        assert located is not None, str(exc)
        assert located["source"] == "entry.tid"
        header_lines = len(re.split(r"\r?\n\r?\n", text, maxsplit=1)[0].split("\n"))
        assert 1 <= int(located["line"]) <= max(1, header_lines)
        return
    assert tiddler.title and tiddler.title == tiddler.title.strip()
    # Whatever was read can be written, and what is written reads back the same.
    try:
        written = format_tid(tiddler)
    except ValueError:
        # Only a lone CR inside a header value is read but cannot be written back.
        assert any("\r" in value for _, value in (("title", tiddler.title), *tiddler.fields))
        return
    again = parse_tid(written)
    assert format_tid(again) == written
    assert again.title == tiddler.title
    assert again.text == tiddler.text
    assert sorted(again.fields) == sorted(tiddler.fields)


field_name = st.text(
    alphabet=st.characters(exclude_characters=":\r\n", exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(
    # the names the tiddler builders below add themselves are left out: a duplicate is not a
    # tiddler TiddlyWiki writes (found by fuzzing: a generated "tags" beside the built one)
    lambda n: n == n.strip() and n and n not in ("title", "text", "created", "modified", "tags")
)
field_value = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=30
).map(str.strip)
tag = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)),
    min_size=1,
    max_size=15,
).filter(lambda t: "]]" not in t)
tiddlers = st.builds(
    lambda title, text, fields, tags, stamp: Tiddler(
        title=title,
        text=text,
        fields=(*fields.items(), ("created", stamp), ("tags", format_tags(tags))),
    ),
    title=field_value.filter(bool),
    text=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80).filter(
        lambda t: not t.startswith(("\n", "\r\n"))  # a body's leading blank line is the separator
    ),
    fields=st.dictionaries(field_name, field_value, max_size=4),
    tags=st.lists(tag, max_size=5, unique=True),
    stamp=st.sampled_from(["20240106101500123", "202401061015", "20240106101500"]),
)


@fuzz(250)
@given(tiddler=tiddlers)
def test_format_then_parse_is_stable(tiddler: Tiddler) -> None:
    written = format_tid(tiddler)
    read = parse_tid(written, source="x.tid")
    assert format_tid(read) == written
    assert read.title == tiddler.title
    assert read.text == tiddler.text
    assert dict(read.fields) == dict(tiddler.fields)
    assert read.tags == parse_tags(dict(tiddler.fields)["tags"])


@fuzz(200)
@given(tags=st.lists(tag, max_size=6, unique=True))
def test_tags_with_spaces_survive_brackets(tags: list[str]) -> None:
    assume(not any(t.startswith("[[") and t.strip() != t for t in tags))
    assert parse_tags(format_tags(tags)) == tuple(tags)


def test_a_tag_ending_in_a_no_break_space_is_bracketed() -> None:
    """Found by fuzzing: `x\xa0` was written bare, and the trimmed header value lost the space."""
    tiddler = Tiddler(title="t", text="", fields=(("tags", format_tags(["x\xa0", "\xa0"])),))
    assert parse_tid(format_tid(tiddler)).tags == ("x\xa0", "\xa0")


def test_multi_word_tags_round_trip_through_a_tid() -> None:
    tiddler = Tiddler(
        title="on the mill",
        text="body\n",
        fields=(("tags", format_tags(["private", "old mill", "[[odd", "x]]y"])),),
    )
    assert parse_tid(format_tid(tiddler)).tags == ("private", "old mill", "[[odd", "x]]y")


# --- importers ------------------------------------------------------------------------------

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=15),
    st.sampled_from(["20240106101500123", "2024", "20241399999999999", "$:/core", "text/plain"]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
tiddler_object = st.dictionaries(
    st.one_of(
        st.sampled_from(["title", "text", "tags", "created", "modified", "type", "list", "bag"]),
        st.text(max_size=6),
    ),
    st.one_of(json_scalar, st.lists(st.text(max_size=8), max_size=3), json_value),
    max_size=6,
)
exports = st.one_of(st.lists(tiddler_object, max_size=4), json_value)


def _check_source(path: Path) -> None:
    """read_source returns what it could read, or raises JournalFormatError naming the file."""
    try:
        source = read_source(path, include_system=True)
    except JournalFormatError as exc:
        assert exc.path is not None and str(exc).startswith(exc.path)
        return
    for problem in source.problems:
        assert isinstance(problem, JournalFormatError)
        assert problem.path is not None and str(problem).startswith(problem.path)
    for tiddler in source.tiddlers:
        assert tiddler.title.strip()


@fuzz(150)
@given(export=exports, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=200)))
def test_json_exports(tmp_path: Path, export: object, cut: int | None) -> None:
    text = json.dumps(export, ensure_ascii=False)
    path = tmp_path / "export.json"
    path.write_bytes(text[:cut].encode("utf-8", "surrogatepass"))
    _check_source(path)


html_fragment = st.one_of(
    st.sampled_from(
        [
            '<script class="tiddlywiki-tiddler-store" type="application/json">',
            "</script>",
            '<div id="storeArea">',
            '<div title="t" created="20240106101500123" tags="[[a b]] c">',
            '<div title="" modified="x">',
            "<div>",
            "</div>",
            "<pre>",
            "</pre>",
            "&lt;",
            "&#0;",
            "&#x110000;",
            "<!--",
            "<![CDATA[",
            "<",
            '"',
        ]
    ),
    exports.map(json.dumps),
    st.text(max_size=10),
)


@fuzz(120)
@given(parts=st.lists(html_fragment, max_size=12))
def test_single_file_wikis(tmp_path: Path, parts: list[str]) -> None:
    path = tmp_path / "wiki.html"
    path.write_bytes("".join(parts).encode("utf-8", "surrogatepass"))
    _check_source(path)


@fuzz(100)
@given(
    files=st.dictionaries(
        st.sampled_from(["a.tid", "b.tid", "c.png", "c.png.meta", "d.txt", "sub/e.tid"]),
        st.one_of(st.binary(max_size=100), tid_like.map(lambda t: t.encode("utf-8", "replace"))),
        max_size=5,
    )
)
def test_tid_folders(tmp_path: Path, files: dict[str, bytes]) -> None:
    folder = tmp_path / "wiki"
    if folder.exists():
        for old in sorted(folder.rglob("*"), reverse=True):
            old.unlink() if old.is_file() else old.rmdir()
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    _check_source(folder)
    for name in files:
        if name.endswith(".tid"):
            _check_source(folder / name)
