"""The .tid format: parsing, writing, dates, tags, and errors that say where."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohost.core.errors import JournalFormatError
from cohost.journal.tid import (
    Tiddler,
    format_tags,
    format_tid,
    format_tw_date,
    parse_tags,
    parse_tid,
    parse_tw_date,
)


def _real_files(shared_data: Path) -> list[Path]:
    folder = shared_data / "tiddlywiki" / "tid"
    return sorted(folder.rglob("*.tid")) + sorted(folder.rglob("*.meta"))


def test_every_real_file_round_trips_byte_for_byte(shared_data: Path) -> None:
    files = _real_files(shared_data)
    assert len(files) == 42  # 41 .tid and one .meta
    for path in files:
        raw = path.read_bytes().decode("utf-8")
        assert format_tid(parse_tid(raw, source=str(path))).encode("utf-8") == path.read_bytes()


def test_a_real_journal_entry_reads_as_tiddlywiki_shows_it(shared_data: Path) -> None:
    path = shared_data / "tiddlywiki" / "tid" / "jackbaty" / "2018-10-23 - Journal.tid"
    t = parse_tid(path.read_text(encoding="utf-8"), source=str(path))
    assert t.title == "2018-10-23 - Journal"
    assert t.created == datetime(2018, 10, 23, 12, 50, 35, 152000, tzinfo=UTC)
    assert t.modified == datetime(2019, 1, 5, 13, 11, 19, 352000, tzinfo=UTC)
    assert t.tags == ("Journal",)
    assert t.get("type") == "text/vnd.tiddlywiki"
    assert [name for name, _ in t.fields] == [
        "created",
        "creator",
        "modified",
        "modifier",
        "revision",
        "tags",
        "type",
    ]
    assert t.text.startswith("This is my first entry in this wiki.")
    assert t.text.endswith("like swimming upstream using it with TiddlyWiki")


def test_multi_word_tags_in_a_real_file(shared_data: Path) -> None:
    path = (
        shared_data
        / "tiddlywiki"
        / "tid"
        / "jackbaty"
        / "2019.02.20 - Link_ Creating an Online TiddlyWiki on DigitalOcean.tid"
    )
    t = parse_tid(path.read_text(encoding="utf-8"))
    assert t.tags == ("TiddlyWiki", "Josh Sullivan")


def test_header_only_file_has_empty_body_and_stays_header_only() -> None:
    raw = "created: 20190101154528965\ntitle: fman.png\ntype: image/png"
    t = parse_tid(raw)
    assert t.text == ""
    assert format_tid(t) == raw


def test_documented_differences_from_other_writers() -> None:
    # Unsorted fields, `name:value` without a space, CRLF header, blank line with no body.
    raw = "title: Hello\r\ntags:one [[two three]]\r\ncreated :  20200101000000000\r\n\r\n"
    t = parse_tid(raw)
    assert t.tags == ("one", "two three")
    assert format_tid(t) == "created: 20200101000000000\ntags: one [[two three]]\ntitle: Hello"
    assert format_tid(parse_tid(format_tid(t))) == format_tid(t)


def test_body_is_kept_byte_for_byte_including_crlf_and_blank_lines() -> None:
    body = "\n\nline one\r\n\r\nline: two\n\n\n"
    raw = "title: x\n\n" + body
    t = parse_tid(raw)
    assert t.text == body
    assert format_tid(t) == raw


@pytest.mark.parametrize(
    ("raw", "line", "words"),
    [
        ("title: ok\nthis line has no colon\n\nbody", 2, "blank line after the header missing"),
        ("created: 2020-01-01\ntitle: x\n\nbody", 1, "not a TiddlyWiki date"),
        ("title: x\nmodified: 20201341000000000\n\nbody", 2, "month must be in 1..12"),
        ("tags: a\n: nameless\ntitle: x", 2, "without a name"),
        ("title: x\ntitle: y", 2, "given twice"),
        ("tags: a\ncreated: 20200101000000000\n\nno title here", 1, "no title"),
        ("title: x\ntext: inline\n\nbody", 2, "after the blank line"),
        ("", 1, "empty file"),
        ("Just some prose without any header.\n\nMore prose.", 1, "not 'name: value'"),
    ],
)
def test_malformed_files_name_the_file_and_line(raw: str, line: int, words: str) -> None:
    with pytest.raises(JournalFormatError) as caught:
        parse_tid(raw, source="journal/bad.tid")
    err = caught.value
    assert err.path == "journal/bad.tid"
    assert err.line == line
    assert words in err.reason
    assert str(err).startswith(f"journal/bad.tid:{line}: ")


def test_a_malformed_file_is_never_quoted_in_the_error() -> None:
    # the error is logged; the line may be the body of a secret entry
    raw = "title: therapy\ntags: secret\nDr Okafor thinks the panic attacks started in 2019\n"
    with pytest.raises(JournalFormatError) as caught:
        parse_tid(raw, source="journal/therapy.tid")
    assert "Okafor" not in str(caught.value)
    assert caught.value.line == 3


def test_dates_both_ways() -> None:
    dt = parse_tw_date("20261123194012345")
    assert dt == datetime(2026, 11, 23, 19, 40, 12, 345000, tzinfo=UTC)
    assert format_tw_date(dt) == "20261123194012345"
    # Other zones are written in UTC; sub-millisecond precision is dropped like TiddlyWiki does.
    cet = datetime(2026, 11, 23, 20, 40, 12, 345999, tzinfo=timezone(timedelta(hours=1)))
    assert format_tw_date(cet) == "20261123194012345"
    # TiddlyWiki Classic's 12-digit and second-precision forms.
    assert parse_tw_date("200601021504") == datetime(2006, 1, 2, 15, 4, tzinfo=UTC)
    assert parse_tw_date("20060102150405") == datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        format_tw_date(datetime(2026, 1, 1))
    for bad in ("2026112319401234", "2026-11-23", "", "20261323194012345"):
        with pytest.raises(ValueError):
            parse_tw_date(bad)


def test_tags_follow_tiddlywiki_list_syntax() -> None:
    assert parse_tags("Journal [[Tech Note]] Wiki") == ("Journal", "Tech Note", "Wiki")
    assert parse_tags("  a   a [[a]] b ") == ("a", "b")
    assert parse_tags("") == ()
    # A no-break space does not separate, and a bracket glued to text is part of the word.
    assert parse_tags("x\xa0y [[q]]r") == ("x\xa0y", "[[q]]r")
    assert format_tags(["Journal", "Tech Note", "x\xa0y"]) == "Journal [[Tech Note]] x\xa0y"
    for bad in ("", "two\nlines", "a]] b"):
        with pytest.raises(ValueError):
            format_tags([bad])


@given(
    st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", blacklist_characters="\r\n"),
            min_size=1,
        ).filter(lambda s: "]]" not in s and not s.startswith("[[") and s.strip() == s),
        max_size=6,
        unique=True,
    )
)
def test_tags_round_trip(tags: list[str]) -> None:
    assert parse_tags(format_tags(tags)) == tuple(tags)


_field_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.0123456789", min_size=1).filter(
    lambda n: n not in ("title", "text", "created", "modified")
)
_values = st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="\r\n")).map(str.strip)


@given(
    title=_values.filter(bool),
    fields=st.dictionaries(_field_names, _values, max_size=5),
    text=st.text(alphabet=st.characters(codec="utf-8")),
)
def test_any_writable_tiddler_round_trips(title: str, fields: dict[str, str], text: str) -> None:
    t = Tiddler(title=title, text=text, fields=tuple(sorted(fields.items())))
    back = parse_tid(format_tid(t))
    assert back.title == t.title
    assert dict(back.fields) == fields
    assert back.text == text


def test_format_refuses_what_a_header_cannot_hold() -> None:
    with pytest.raises(ValueError, match="spans lines"):
        format_tid(Tiddler(title="x", text="", fields=(("caption", "a\nb"),)))
    with pytest.raises(ValueError, match="field name"):
        format_tid(Tiddler(title="x", text="", fields=(("a:b", "c"),)))


def test_replace_field() -> None:
    t = Tiddler(title="x", text="y", fields=(("tags", "a"), ("type", "text/plain")))
    assert t.replace_field("tags", "b").fields == (("tags", "b"), ("type", "text/plain"))
    assert t.replace_field("tags", None).fields == (("type", "text/plain"),)
    assert t.replace_field("new", "1").get("new") == "1"
