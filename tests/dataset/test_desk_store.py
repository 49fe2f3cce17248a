"""The desk's store: choices as DPO pairs and training examples, undo, torn lines."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage
from cohost.dataset.build import read_meta
from cohost.dataset.desk import (
    Candidate,
    DeskStore,
    read_desk_examples,
    read_desk_pairs,
)
from cohost.text.render import render_example, render_prompt

WINDOW = (
    ChatMessage(id="1", channel="moss", login="moss", display_name="Moss", text="ok back", ts=1.0),
    ChatMessage(
        id="2", channel="moss", login="ana", display_name="ana", text="how is gerald?", ts=2.0
    ),
)
SHOWN = [
    Candidate(text="Gerald is thriving.", model="twin"),
    Candidate(text="No idea, ask him.", model="base"),
    Candidate(text="Gerald is thriving.", model="embedded"),  # the same text twice
]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_pick_is_set_over_each_other_candidate(tmp_path: Path) -> None:
    store = DeskStore(tmp_path / "desk", "Mossbot")
    choice = store.pick(WINDOW, SHOWN, 1, source="log")
    prompt = render_prompt(list(WINDOW), "Mossbot")
    assert prompt.endswith("Moss: ok back\nana: how is gerald?\nMossbot:")
    pairs = _lines(store.pairs)
    # the picked one over each other text once: the repeated text is one rejection
    assert pairs == [
        {
            "prompt": prompt,
            "chosen": " No idea, ask him.\n",
            "rejected": " Gerald is thriving.\n",
            "choice": choice.record.id,
        }
    ]
    record = _lines(store.choices)[0]
    assert record["kind"] == "picked" and record["chosen"] == 1 and record["source"] == "log"
    assert [c["model"] for c in record["candidates"]] == ["twin", "base", "embedded"]
    assert not store.examples.exists() or _lines(store.examples) == []
    # the files are the owner's, and the meta names the twin as `cohost train` checks it
    assert stat.S_IMODE(store.pairs.stat().st_mode) == 0o600
    meta = read_meta(store.pairs)
    assert meta is not None and meta.twin == "Mossbot" and prompt.startswith(meta.header)


def test_all_bad_keeps_the_choice_with_no_pair(tmp_path: Path) -> None:
    store = DeskStore(tmp_path, "Mossbot")
    store.all_bad(WINDOW, SHOWN[:2], source="typed")
    counts = store.counts()
    assert (counts.choices, counts.bad, counts.pairs, counts.examples) == (1, 1, 0, 0)


def test_a_written_answer_beats_every_candidate_and_is_an_example(tmp_path: Path) -> None:
    store = DeskStore(tmp_path, "Mossbot")
    store.write(WINDOW, SHOWN, "  he is   THRIVING, chat  ", source="seed")
    pairs = _lines(store.pairs)
    assert [p["chosen"] for p in pairs] == [" he is THRIVING, chat\n"] * 2
    assert [p["rejected"] for p in pairs] == [" Gerald is thriving.\n", " No idea, ask him.\n"]
    examples, unreadable = read_desk_examples(store.examples)
    twin_line = ChatMessage(
        id="x",
        channel="",
        login="mossbot",
        display_name="Mossbot",
        text="he is THRIVING, chat",
        ts=2,
    )
    assert examples == [render_example([*WINDOW, twin_line], "Mossbot")]
    assert examples[0].endswith("ana: how is gerald?\nMossbot: he is THRIVING, chat\n")
    assert unreadable == 0
    # with no candidates at all, the answer is still an example
    store.write(WINDOW, [], "fine")
    assert store.counts().examples == 2 and store.counts().pairs == 2


def test_undo_takes_the_last_choice_out_of_every_file(tmp_path: Path) -> None:
    store = DeskStore(tmp_path, "Mossbot")
    assert store.undo() is None
    store.pick(WINDOW, SHOWN, 0)
    before = (store.pairs.read_bytes(), store.choices.read_bytes())
    store.write(WINDOW, SHOWN, "he is fine")
    assert store.counts().as_dict() == {
        "choices": 2, "picked": 1, "bad": 0, "written": 1, "pairs": 3, "examples": 1,
        "unreadable": 0,
    }  # fmt: skip
    undone = store.undo()
    assert undone is not None and undone.kind == "written"
    assert (store.pairs.read_bytes(), store.choices.read_bytes()) == before
    assert read_desk_examples(store.examples) == ([], 0)
    assert store.undo() is not None and store.undo() is None
    assert store.counts().pairs == 0
    assert stat.S_IMODE(store.pairs.stat().st_mode) == 0o600  # rewritten, still the owner's
    assert not list(tmp_path.glob(".*partial"))


def test_a_torn_line_is_counted_and_the_next_choice_lands_whole(tmp_path: Path) -> None:
    store = DeskStore(tmp_path, "Mossbot")
    store.pick(WINDOW, SHOWN, 0)
    with store.pairs.open("ab") as file:
        file.write(b'{"prompt": "Twitch chat. Mossbot is the str')  # a crash mid-write
    with store.choices.open("ab") as file:
        file.write(b'{"v": 1, "id": "c-')
    assert store.counts().unreadable == 2
    store.pick(WINDOW, SHOWN, 1)
    pairs, unreadable = read_desk_pairs(store.pairs)
    assert unreadable == 1 and len(pairs) == 2
    assert all(set(p) == {"prompt", "chosen", "rejected"} for p in pairs)
    counts = store.counts()
    assert (counts.choices, counts.pairs, counts.unreadable) == (2, 2, 2)
    # undo finds the last whole choice, and leaves the torn lines as they are
    assert store.undo() is not None
    assert read_desk_pairs(store.pairs) == (pairs[:1], 1)


def test_bad_choices_are_clear_errors(tmp_path: Path) -> None:
    store = DeskStore(tmp_path, "Mossbot")
    with pytest.raises(InputError, match="choice 5 is not one of the 3 candidates"):
        store.pick(WINDOW, SHOWN, 4)
    with pytest.raises(InputError, match="empty"):
        store.write(WINDOW, SHOWN, "   ")
    with pytest.raises(InputError, match="longer than 500"):
        store.write(WINDOW, SHOWN, "x" * 501)
    with pytest.raises(InputError, match="window"):
        store.pick((), SHOWN, 0)
    with pytest.raises(InputError, match="1 to 4 candidates"):
        store.all_bad(WINDOW, [])
    assert not store.choices.exists()
