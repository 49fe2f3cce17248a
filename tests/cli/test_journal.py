"""`cohost journal …`: the handlers, through run_journal and through the top-level CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohost.app.settings import Settings, load_settings
from cohost.cli.journal import run_journal
from cohost.cli.main import main
from cohost.journal.store import JournalStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # lexical embeddings: `add` and `import` index at once, and a model takes seconds to load
    return load_settings(data_dir=tmp_path / "data", journal={"embedding_model": "hashing"})


def _store(settings: Settings) -> JournalStore:
    return JournalStore(settings.data_dir / "journal")


def test_add(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_journal(["add", "Good stream.", "--tag", "public", "--tag", "two words"], settings)
    assert code == 0
    [entry] = _store(settings).entries()
    assert entry.text == "Good stream."
    assert entry.tags == ("public", "two words")
    assert entry.tier.value == "public"
    assert str(entry.path) in capsys.readouterr().out


def test_add_says_when_a_tag_looks_like_a_misspelt_tier(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_journal(["add", "new keyboard day", "--tag", "pubic", "--tag", "gear"], settings) == 0
    )
    captured = capsys.readouterr()
    assert "(private)" in captured.out  # saved, as its tags make it
    assert captured.err == (
        "cohost: tag 'pubic' is no privacy tier; did you mean 'public'? (the entry is private)\n"
    )


def test_add_refuses_an_empty_entry(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_journal(["add", "   "], settings) == 1
    assert "empty" in capsys.readouterr().err
    assert list(_store(settings).entries()) == []


def test_import_export(
    settings: Settings, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_journal(["import", str(shared_data / "tiddlywiki" / "tid")], settings) == 0
    out = capsys.readouterr().out
    assert "imported 34, duplicates 0, system skipped 7, binary skipped 1" in out
    assert (
        run_journal(["export", str(tmp_path / "json" / "all.json"), "--format", "json"], settings)
        == 0
    )
    assert len(json.loads((tmp_path / "json" / "all.json").read_text(encoding="utf-8"))) == 34
    assert run_journal(["export", str(tmp_path / "tid")], settings) == 0
    assert len(list((tmp_path / "tid").glob("*.tid"))) == 34
    # Exporting over an existing JSON file is refused, not done.
    assert (
        run_journal(["export", str(tmp_path / "json" / "all.json"), "--format", "json"], settings)
        == 1
    )
    assert "refuses to overwrite" in capsys.readouterr().err
    # a .json path is a JSON file without being told
    assert run_journal(["export", str(tmp_path / "again.json")], settings) == 0
    assert len(json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))) == 34


def test_import_reports_unreadable_files(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.tid").write_text("title: ok\n\nfine", encoding="utf-8")
    (folder / "bad.tid").write_text("title: x\ncreated: soon\n\nbody", encoding="utf-8")
    assert run_journal(["import", str(folder)], settings) == 1
    captured = capsys.readouterr()
    assert f"{folder / 'bad.tid'}:2: not a TiddlyWiki date" in captured.err
    assert "imported 1," in captured.out
    assert run_journal(["import", str(tmp_path / "missing")], settings) == 1


def test_serve_refuses_without_a_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_journal(["serve"], settings) == 2
    assert "COHOST_JOURNAL__TOKEN" in capsys.readouterr().err


def test_the_top_level_cli_has_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COHOST_JOURNAL__TOKEN", raising=False)
    assert main(["journal", "add", "from the shell", "--tag", "secret"]) == 0
    [entry] = JournalStore(tmp_path / "journal").entries()
    assert entry.tier.value == "secret"
    assert main(["journal", "serve"]) == 2
    assert "COHOST_JOURNAL__TOKEN" in capsys.readouterr().err


# ---- add and import index at once (issue #19) ------------------------------------------------


def test_an_added_entry_is_found_by_search_at_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_journal(["add", "Gerald the sourdough starter doubled overnight."], settings) == 0
    assert "indexed 1 chunk" in capsys.readouterr().out
    assert run_journal(["search", "sourdough starter", "--raw", "--json"], settings) == 0
    [hit] = json.loads(capsys.readouterr().out)["hits"]
    assert "Gerald" in hit["text"]


def test_imported_entries_are_indexed_and_no_index_leaves_them_to_later(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "wiki"
    folder.mkdir()
    for n, body in enumerate(["The speedrun lava level took three tries.", "New desk lamp."]):
        (folder / f"e{n}.tid").write_text(
            f"title: entry {n}\ncreated: 2026010{n + 1}120000000\n\n{body}\n", encoding="utf-8"
        )
    assert run_journal(["import", str(folder)], settings) == 0
    assert "indexed 2 chunks" in capsys.readouterr().out
    assert run_journal(["search", "lava level speedrun", "--raw", "--json"], settings) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["title"] == "entry 0"
    assert run_journal(["add", "--no-index", "A quiet note about the cat."], settings) == 0
    assert "indexed" not in capsys.readouterr().out
    run_journal(["search", "quiet note cat", "--raw", "--json"], settings)
    assert "cat" not in capsys.readouterr().out  # not indexed: search cannot find it yet
