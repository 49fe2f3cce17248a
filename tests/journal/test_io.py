"""Import from and export to TiddlyWiki: folders, JSON exports, single-file wikis."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from cohost.core.errors import JournalFormatError
from cohost.journal.io import export_json, export_tid_folder, import_into, read_source
from cohost.journal.store import JournalStore
from cohost.journal.tid import format_tid, parse_tid

# Tiddlers as TiddlyWiki 5 holds them: every field a string, tags in list syntax.
JOURNAL = [
    {
        "created": "20261120211501234",
        "modified": "20261120211930001",
        "tags": "Journal [[Stream Notes]]",
        "title": "2026-11-20 - Journal",
        "type": "text/vnd.tiddlywiki",
        "text": (
            'Chat was kind tonight.\n\nSomeone asked about <script>alert(1)</script> & "quotes".'
        ),
    },
    {
        "created": "20261121090000000",
        "modified": "20261121090000000",
        "tags": "secret",
        "title": "Note: the real reason",
        "text": "I moved because of the noise.",
    },
    {"title": "No dates at all", "text": "TiddlyWiki allows that.", "tags": ""},
]
SYSTEM = [
    {"title": "$:/StoryList", "list": "[[2026-11-20 - Journal]]", "text": ""},
    {"title": "$:/SiteTitle", "text": "Streamer's Journal"},
    {
        "title": "$:/core",
        "type": "application/json",
        "plugin-type": "plugin",
        "version": "5.3.3",
        "text": json.dumps({"tiddlers": {"$:/core/a": {"title": "$:/core/a", "text": "<$x/>"}}}),
    },
]
IMAGE = {
    "title": "cat.png",
    "type": "image/png",
    "created": "20261120211501234",
    "text": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg==",
}
ALL = [*JOURNAL, *SYSTEM, IMAGE]

# The parts of a single-file wiki around its store, as TiddlyWiki 5 writes them (abridged).
DATA = Path(__file__).parent / "data"
_HEAD = (DATA / "tw5_head.html").read_text(encoding="utf-8")
_TAIL = (DATA / "tw5_tail.html").read_text(encoding="utf-8")


def build_wiki_52(tiddlers: list[dict[str, str]]) -> str:
    """A single-file wiki as TiddlyWiki 5.2+ saves it: JSON store blocks, empty store area."""
    # One tiddler per line, `<` written as \\u003C so that no `</script>` can end the block.
    lines = ",\n".join(json.dumps(t, ensure_ascii=False).replace("<", "\\u003C") for t in tiddlers)
    store = (
        '<!--~~ Ordinary tiddlers ~~-->\n<script class="tiddlywiki-tiddler-store" '
        f'type="application/json">[\n{lines}\n]</script>'
        '<div id="storeArea" style="display:none;"></div>\n'
    )
    return _HEAD.replace("{version}", "5.3.3") + store + _TAIL


def build_wiki_51(tiddlers: list[dict[str, str]]) -> str:
    """A single-file wiki as TiddlyWiki 5.0/5.1 saves it: a div per tiddler, body in a <pre>."""
    divs = []
    for t in tiddlers:
        attrs = "".join(
            f' {k}="{html.escape(v, quote=True)}"' for k, v in sorted(t.items()) if k != "text"
        )
        divs.append(
            f"<div{attrs}>\n<pre>{html.escape(t.get('text', ''), quote=False)}</pre>\n</div>"
        )
    store = (
        '<!--~~ Ordinary tiddlers ~~-->\n<div id="storeArea" style="display:none;">'
        + "\n".join(divs)
        + "</div>\n"
    )
    return _HEAD.replace("{version}", "5.1.23") + store + _TAIL


def _by_title(store: JournalStore) -> dict[str, dict[str, str]]:
    return {t.title: {**dict(t.fields), "text": t.text} for _, t in store.tiddlers()}


def _expected(tiddlers: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {t["title"]: {k: v for k, v in t.items() if k != "title"} for t in tiddlers}


def test_the_real_folder_imports_with_exact_counts(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "tiddlywiki" / "tid"
    store = JournalStore(tmp_path / "journal")
    report = import_into(store, folder)
    assert len(report.imported) == 34
    assert report.system == 7
    assert report.binary == 1  # 2019-01-01_fman.png.meta
    assert report.other_files == 1  # tiddlywiki.info
    assert report.duplicates == 0
    assert report.problems == ()
    # Each entry lands under TiddlyWiki's own file name, byte for byte.
    for entry in report.imported:
        original = folder / "jackbaty" / entry.path.name
        assert entry.path.read_bytes() == original.read_bytes()
    journal = [e for e in store.entries() if "Journal" in e.tags]
    assert len(journal) == 19
    assert {e.tier.value for e in store.entries()} == {"private"}

    again = import_into(store, folder)
    assert (len(again.imported), again.duplicates) == (0, 34)
    assert len(list(store.entries())) == 34


def test_system_tiddlers_on_request(shared_data: Path, tmp_path: Path) -> None:
    store = JournalStore(tmp_path)
    report = import_into(store, shared_data / "tiddlywiki" / "tid", include_system=True)
    assert (len(report.imported), report.system, report.binary) == (41, 0, 1)
    assert store.get("$__sk_WhiteList").title == "$:/sk/WhiteList"


def test_json_export_from_tiddlywiki(tmp_path: Path) -> None:
    path = tmp_path / "tiddlers.json"
    path.write_text(json.dumps(ALL, ensure_ascii=False, indent=4), encoding="utf-8")
    store = JournalStore(tmp_path / "journal")
    report = import_into(store, path)
    assert (len(report.imported), report.system, report.binary, report.duplicates) == (3, 3, 1, 0)
    assert _by_title(store) == _expected(JOURNAL)
    secret = next(e for e in store.entries() if e.title == "Note: the real reason")
    assert secret.tier.value == "secret"
    assert secret.id == "Note_ the real reason"
    assert import_into(store, path).duplicates == 3


def test_json_with_lists_numbers_and_nulls(tmp_path: Path) -> None:
    # Some tools write tags as a list and revision as a number; TiddlyWiki reads both.
    path = tmp_path / "x.json"
    items = [
        {"title": "a", "text": "b", "tags": ["one", "two words"], "revision": 3, "x": None},
        {"text": "no title"},
        {"title": "bad date", "created": "yesterday"},
        {"title": "multi-line field", "caption": "a\nb"},
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    found = read_source(path)
    assert [t.title for t in found.tiddlers] == ["a"]
    assert found.tiddlers[0].tags == ("one", "two words")
    assert found.tiddlers[0].get("revision") == "3"
    assert found.tiddlers[0].get("x") is None
    reasons = [p.reason for p in found.problems]
    assert len(reasons) == 3
    assert "tiddler #2 has no title" in reasons[0]
    assert "not a TiddlyWiki date" in reasons[1]
    assert "spans lines" in reasons[2]
    assert all(p.path == str(path) for p in found.problems)


@pytest.mark.parametrize(
    ("content", "line"),
    [('[{"title": "a"},\n{"title": "b",}]', 2), ('{"title": "not a list"}', None)],
)
def test_json_that_is_not_tiddlywiki(tmp_path: Path, content: str, line: int | None) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(JournalFormatError) as caught:
        read_source(path)
    assert caught.value.path == str(path)
    assert caught.value.line == line


@pytest.mark.parametrize("build", [build_wiki_52, build_wiki_51])
def test_single_file_wiki(tmp_path: Path, build: object) -> None:
    assert callable(build)
    path = tmp_path / "journal.html"
    path.write_text(build(ALL), encoding="utf-8")
    store = JournalStore(tmp_path / "journal")
    report = import_into(store, path)
    assert (len(report.imported), report.system, report.binary, report.problems) == (3, 3, 1, ())
    assert _by_title(store) == _expected(JOURNAL)
    text = store.get("2026-11-20 - Journal").text
    assert '<script>alert(1)</script> & "quotes"' in text


def test_a_wiki_holding_both_store_styles(tmp_path: Path) -> None:
    # A 5.2 wiki keeps reading the old store area, so tiddlers can sit in both places.
    page = build_wiki_52(JOURNAL[:1])
    old = build_wiki_51(JOURNAL[1:])
    old_store = old[old.index('<div id="storeArea"') : old.index("<!--~~ Library")]
    page = page.replace('<div id="storeArea" style="display:none;"></div>\n', old_store)
    path = tmp_path / "both.htm"
    path.write_text(page, encoding="utf-8")
    assert [t.title for t in read_source(path).tiddlers] == [t["title"] for t in JOURNAL]


def test_unknown_kinds_of_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.docx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(JournalFormatError, match="cannot tell"):
        read_source(path)


def test_import_keeps_same_titles_with_different_times(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal")
    store.add("written here", title="2026-11-20 - Journal")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(JOURNAL[:1]), encoding="utf-8")
    report = import_into(store, path)
    assert [e.id for e in report.imported] == ["2026-11-20 - Journal (2)"]
    assert store.get("2026-11-20 - Journal").text == "written here"


def test_folder_with_a_bad_file_and_a_lone_image(tmp_path: Path) -> None:
    src = tmp_path / "wiki" / "tiddlers"
    src.mkdir(parents=True)
    (src / "good.tid").write_text("title: good\n\nfine", encoding="utf-8")
    (src / "bad.tid").write_text("title good\n\nbroken", encoding="utf-8")
    (src / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (src / "scan.pdf").write_bytes(b"%PDF")
    (src / "scan.pdf.meta").write_text("title: scan.pdf\ntype: application/pdf")
    (src / "png.tid").write_text("title: inline.png\ntype: image/png\n\niVBOR", encoding="utf-8")
    (tmp_path / "wiki" / "tiddlywiki.info").write_text("{}")
    report = import_into(JournalStore(tmp_path / "journal"), tmp_path / "wiki")
    assert [e.title for e in report.imported] == ["good"]
    assert (report.binary, report.other_files) == (3, 1)
    assert [(Path(p.path or "").name, p.line) for p in report.problems] == [("bad.tid", 1)]


def test_export_to_a_tid_folder_and_back(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal")
    store.add("one", tags=["public"], title="First")
    store.add("two\n\nlines", tags=["with space"], title="Second: more")
    out = tmp_path / "export" / "tiddlers"
    assert export_tid_folder(store, out) == 2
    for entry in store.entries():
        assert (out / entry.path.name).read_bytes() == entry.path.read_bytes()
    assert export_tid_folder(store, out) == 0  # already there: nothing doubled
    assert len(list(out.iterdir())) == 2


def test_export_json_that_tiddlywiki_imports(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "journal")
    a = store.add("one <b>&</b>", tags=["public", "x y"], title="First")
    store.add("two", title="Second")
    dest = tmp_path / "out.json"
    assert export_json(store, dest) == 2
    items = json.loads(dest.read_text(encoding="utf-8"))
    assert isinstance(items, list)
    assert all(isinstance(v, str) for item in items for v in item.values())
    first = next(i for i in items if i["title"] == "First")
    assert first["tags"] == "public [[x y]]"
    assert first["text"] == "one <b>&</b>"
    assert first["created"] == a.path.read_text().split("\n")[0].removeprefix("created: ")
    # And back: the same tiddlers, field for field.
    again = read_source(dest)
    originals = {t.title: format_tid(t) for _, t in store.tiddlers()}
    assert {t.title: format_tid(t) for t in again.tiddlers} == originals
    with pytest.raises(FileExistsError):
        export_json(store, dest)


def test_parse_of_what_the_store_wrote(tmp_path: Path) -> None:
    entry = JournalStore(tmp_path).add("x", tags=["a b"], title="t")
    assert parse_tid(entry.path.read_text(encoding="utf-8")).tags == ("a b",)


def test_a_title_spanning_lines_is_a_named_problem_and_the_rest_imports(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    items = [{"title": "fine", "text": "kept"}, {"title": "two\nlines", "text": "skipped"}]
    path.write_text(json.dumps(items), encoding="utf-8")
    store = JournalStore(tmp_path / "journal")
    report = import_into(store, path)  # no crash halfway through
    assert [e.title for e in report.imported] == ["fine"]
    [problem] = report.problems
    assert problem.path == str(path)
    assert "tiddler #2" in problem.reason and "spans lines" in problem.reason


@pytest.mark.parametrize("inner", ["[" * 1100 + "]" * 1100, '{"a":' * 1100 + "1" + "}" * 1100])
def test_json_nested_too_deep_is_a_format_error(tmp_path: Path, inner: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text('[{"title": "a", "text": "b"},\n' + inner + "]", encoding="utf-8")
    with pytest.raises(JournalFormatError) as caught:
        read_source(path)
    assert str(caught.value).startswith(f"{path}: not TiddlyWiki JSON")
