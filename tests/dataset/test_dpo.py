"""Feedback as DPO pairs, by the documented pairing rule."""

from __future__ import annotations

import json
from pathlib import Path

from cohost.core.events import ChatMessage
from cohost.dataset.dpo import PairReport, dpo_pairs, feedback_prompt, read_feedback
from cohost.text.render import render_prompt


def _record(verdict: str, reply: str, question: str, alternatives: list[str]) -> str:
    return json.dumps(
        {
            "v": 1,
            "ts": 1.0,
            "verdict": verdict,
            "login": "mod",
            "reply": reply,
            "message": {"id": "q", "login": "alice", "text": question},
            "window": [
                {"login": "bob", "text": "good stream today"},
                {"login": "alice", "text": question},
            ],
            "sim_lines": [],
            "hits": [],
            "alternatives": alternatives,
        }
    )


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pairs_follow_the_rule(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "feedback.jsonl",
        [
            _record("good", "nice one", "what are you building", ["meh", "nice one"]),
            _record("bad", "ugh", "what are you building", ["also bad"]),
            _record("bad", "no", "is it hard", ["yes it is!"]),
            _record("bad", "x", "why", []),
            "{not json",
        ],
    )
    records, unreadable = read_feedback(path)
    assert unreadable == 1
    report = PairReport()
    pairs = list(dpo_pairs(records, "Moss", report=report))
    got = [(p["chosen"], p["rejected"]) for p in pairs]
    assert got == [(" nice one\n", " meh\n"), (" nice one\n", " ugh\n"), (" yes it is!\n", " no\n")]
    assert report.by_rule == {"good_vs_alternative": 1, "good_vs_bad": 1, "alternative_vs_bad": 1}
    assert report.unpaired_bad == 1
    assert report.prompts == 3


def test_the_prompt_is_the_rendered_window_with_the_message_once(tmp_path: Path) -> None:
    records, _ = read_feedback(
        _write(tmp_path / "f.jsonl", [_record("good", "hi", "what are you building", ["yo"])])
    )
    window = [
        ChatMessage(
            id="w0", channel="", login="bob", display_name="bob", text="good stream today", ts=0
        ),
        ChatMessage(
            id="w1",
            channel="",
            login="alice",
            display_name="alice",
            text="what are you building",
            ts=0,
        ),
    ]
    prompt = feedback_prompt(records[0], "Moss")
    assert prompt == render_prompt(window, "Moss")
    assert prompt.count("what are you building") == 1
    assert prompt.endswith("alice: what are you building\nMoss:")


def test_a_reply_judged_good_is_never_rejected(tmp_path: Path) -> None:
    records, _ = read_feedback(
        _write(
            tmp_path / "f.jsonl",
            [
                _record("bad", "meh", "q", ["great"]),
                _record("good", "great", "q", ["meh"]),
                _record("good", "fine", "q", ["great"]),
            ],
        )
    )
    pairs = [(p["chosen"], p["rejected"]) for p in dpo_pairs(records, "Moss")]
    assert pairs == [(" great\n", " meh\n"), (" fine\n", " meh\n")]
