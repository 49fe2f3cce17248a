"""Cornell Movie-Dialogs: the films that the shared partial copy holds, and the ones it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohost.dataset.cornell import (
    CornellError,
    CornellFiles,
    Corpus,
    choose_characters,
    film_examples,
    read_films,
    resolve_film,
)

SEP = " +++$+++ "


def _load(corpus: Path, films: list[str]) -> tuple[Corpus, list[str]]:
    files = CornellFiles.find(corpus)
    titles = read_films(files.titles)
    ids = [resolve_film(titles, f).id for f in films]
    return Corpus.load(files, ids), ids


def test_the_shared_copy_is_found_by_its_partial_names(shared_data: Path) -> None:
    files = CornellFiles.find(shared_data / "cornell")
    assert files.lines.name == "movie_lines.PARTIAL_m0-m58.txt"  # the larger of two
    assert files.conversations is not None
    assert files.conversations.name == "movie_conversations.PARTIAL_first200.txt"


def test_a_film_with_conversations_renames_the_character(shared_data: Path) -> None:
    corpus, ids = _load(shared_data / "cornell", ["10 Things I Hate About You"])
    film = corpus.films[ids[0]]
    chosen = choose_characters(corpus, [film], ["bianca"])
    examples, from_conversations = film_examples(corpus, film, chosen[film.id], "Moss", window=12)
    assert from_conversations
    assert len(examples) > 20
    assert examples[0] == (
        "Twitch chat. Moss is the streamer's co-host.\n\n"
        "Moss: Can we make this quick? Roxanne Korrine and Andrew Barrett are having an "
        "incredibly horrendous public break- up on the quad. Again.\n"
        "Cameron: Well, I thought we'd start with pronunciation, if that's okay with you.\n"
        "Moss: Not the hacking and gagging and spitting part. Please.\n"
    )
    for text in examples:
        assert text.splitlines()[-1].startswith("Moss: ")
        assert "Bianca:" not in text


def test_a_film_without_conversations_is_read_in_script_order(shared_data: Path) -> None:
    corpus, ids = _load(shared_data / "cornell", ["m3"])
    film = corpus.films[ids[0]]
    chosen = choose_characters(corpus, [film], ["HAL"])
    examples, from_conversations = film_examples(corpus, film, chosen[film.id], "Moss", window=4)
    assert not from_conversations
    assert examples
    assert all(len(e.splitlines()) <= 2 + 4 for e in examples)
    assert all(e.splitlines()[-1].startswith("Moss: ") for e in examples)


def test_films_missing_from_the_partial_lines_say_so(shared_data: Path) -> None:
    corpus, ids = _load(shared_data / "cornell", ["hackers", "The Matrix"])
    for film_id in ids:
        film = corpus.films[film_id]
        with pytest.raises(CornellError, match=r"lines are not in movie_lines\.PARTIAL") as err:
            film_examples(corpus, film, {}, "Moss", window=4)
        assert film_id in str(err.value)
        assert "m0..m58" in str(err.value)


def test_unknown_films_and_characters_list_near_matches(shared_data: Path) -> None:
    titles = read_films(CornellFiles.find(shared_data / "cornell").titles)
    with pytest.raises(CornellError, match=r"did you mean 'hackers' \(m377\)"):
        resolve_film(titles, "hackrs")
    corpus, ids = _load(shared_data / "cornell", ["m0"])
    with pytest.raises(CornellError, match="did you mean BIANCA"):
        choose_characters(corpus, [corpus.films[ids[0]]], ["biannca"])


def test_original_latin1_files_and_explicit_paths(tmp_path: Path) -> None:
    (tmp_path / "movie_titles_metadata.txt").write_bytes(
        f"m9{SEP}l\xe9on{SEP}1994{SEP}8.6{SEP}100{SEP}['crime']\n".encode("latin-1")
    )
    (tmp_path / "movie_characters_metadata.txt").write_text(
        f"u1{SEP}LEON{SEP}m9{SEP}leon{SEP}m{SEP}1\nu2{SEP}MATHILDA{SEP}m9{SEP}leon{SEP}f{SEP}2\n"
    )
    lines = tmp_path / "lines.txt"
    lines.write_bytes(
        f"L2{SEP}u1{SEP}m9{SEP}LEON{SEP}Caf\xe9?\r\nL1{SEP}u2{SEP}m9{SEP}MATHILDA{SEP}Hi.\r\n".encode(
            "latin-1"
        )
    )
    convs = tmp_path / "convs.txt"
    convs.write_text(f"u2{SEP}u1{SEP}m9{SEP}['L1', 'L2']\n")
    files = CornellFiles.find(tmp_path, lines=lines, conversations=convs)
    film = resolve_film(read_films(files.titles), "LÉON")
    corpus = Corpus.load(files, [film.id])
    chosen = choose_characters(corpus, [film], ["leon"])
    examples, _ = film_examples(corpus, film, chosen[film.id], "Moss", window=4)
    assert examples == [
        "Twitch chat. Moss is the streamer's co-host.\n\nMathilda: Hi.\nMoss: Café?\n"
    ]


def _one_scene(
    tmp_path: Path, title: str, said: list[tuple[str, str]], chosen: str, twin: str = "Moss"
) -> list[str]:
    """Examples from a one-film corpus whose one conversation is `said` ((CHARACTER, line)…)."""
    (tmp_path / "movie_titles_metadata.txt").write_text(
        f"m9{SEP}{title}{SEP}1999{SEP}8.0{SEP}100{SEP}['drama']\n"
    )
    ids = {name: f"u{n}" for n, name in enumerate(dict.fromkeys(n for n, _ in said), 1)}
    (tmp_path / "movie_characters_metadata.txt").write_text(
        "".join(f"{uid}{SEP}{name}{SEP}m9{SEP}{title}{SEP}m{SEP}1\n" for name, uid in ids.items())
    )
    lines = tmp_path / "lines.txt"
    lines.write_text(
        "".join(
            f"L{n}{SEP}{ids[name]}{SEP}m9{SEP}{name}{SEP}{text}\n"
            for n, (name, text) in enumerate(said, 1)
        )
    )
    convs = tmp_path / "convs.txt"
    numbers = ", ".join(f"'L{n}'" for n in range(1, len(said) + 1))
    convs.write_text(f"u1{SEP}u2{SEP}m9{SEP}[{numbers}]\n")
    files = CornellFiles.find(tmp_path, lines=lines, conversations=convs)
    film = resolve_film(read_films(files.titles), title)
    corpus = Corpus.load(files, [film.id])
    picked = choose_characters(corpus, [film], [chosen])
    return film_examples(corpus, film, picked[film.id], twin, window=4)[0]


def test_others_call_the_twin_by_its_name_and_a_namesake_stays_a_namesake(
    tmp_path: Path,
) -> None:
    said = [
        ("MATHILDA", "Leon, is life always this hard?"),
        ("LEON", "Always like this."),
        ("MOSS", "Chameleon time, LEON."),
        ("LEON", "No."),
    ]
    examples = _one_scene(tmp_path, "leon", said, chosen="leon")
    assert examples[-1] == (
        "Twitch chat. Moss is the streamer's co-host.\n\n"
        "Mathilda: Moss, is life always this hard?\n"  # addressed by the twin's name
        "Moss: Always like this.\n"
        "Moss_: Chameleon time, Moss.\n"  # a character who is only called Moss: not the twin
        "Moss: No.\n"
    )


def test_a_name_that_is_also_a_word_is_replaced_only_where_someone_is_called(
    tmp_path: Path,
) -> None:
    said = [
        ("SEAN", "Will you sit? I will wait. Come on, Will!"),
        ("WILL", "Will is fine, I will."),
    ]
    [example] = _one_scene(tmp_path, "good will", said, chosen="will")
    assert example.endswith(
        "Sean: Will you sit? I will wait. Come on, Moss!\n"  # only where he is called
        "Moss: Will is fine, I will.\n"  # the twin's own words are its own
    )
