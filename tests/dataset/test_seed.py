"""Opening prompts of instruction conversations as windows for the twin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohost.core.errors import InputError
from cohost.core.events import ChatMessage, SimLine
from cohost.dataset.seed import (
    NO_USER_TURN,
    Opening,
    Skipped,
    continuation,
    read_openings,
    seed_prompt,
)
from cohost.text.render import render_prompt


def test_first_user_turns_become_viewer_lines(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    rows = [
        {
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "How do\nI paint a kit?"},
                {"role": "assistant", "content": "..."},
            ]
        },
        {"messages": [{"role": "assistant", "content": "no user here"}]},
        {"prompt": "x" * 501},
        {"prompt": "What is your favourite film?"},
        {"conversations": [{"from": "human", "value": "seen the new patch?"}]},  # ShareGPT
        [1, 2],
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    items = list(read_openings(path, viewer="Chatter"))
    assert [i for i in items if isinstance(i, Skipped)] == [
        Skipped(line=2, reason=NO_USER_TURN),
        Skipped(line=3, reason="longer than 500 characters"),
        Skipped(line=6, reason=NO_USER_TURN),
    ]
    openings = [i for i in items if isinstance(i, Opening)]
    assert [o.message.text for o in openings] == [
        "How do I paint a kit?",
        "What is your favourite film?",
        "seen the new patch?",
    ]
    expected = ChatMessage(
        id="seed-1",
        channel="",
        login="chatter",
        display_name="Chatter",
        text="How do I paint a kit?",
        ts=1.0,
    )
    assert seed_prompt(openings[0], "Moss") == render_prompt([expected], "Moss")
    assert seed_prompt(openings[0], "Moss").endswith("Chatter: How do I paint a kit?\nMoss:")


def test_a_continuation_is_the_text_after_the_open_turn() -> None:
    lines = [
        SimLine(speaker="Moss", text="lol you do it", is_twin=True),
        SimLine(speaker="chatter", text="fair", is_twin=False),
    ]
    assert continuation(lines, "Moss") == " lol you do it\nchatter: fair\n"
    assert continuation(lines[1:], "Moss") == ""


def test_a_file_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "convs.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    path.write_bytes(good + b"\n" + b'{"messages": "caf\xe9"}\n')
    with pytest.raises(InputError) as caught:
        list(read_openings(path, viewer="viewer"))
    assert caught.value.located() == f"{path}:2: not UTF-8 text"
