"""Feedback records: what is kept of a turn, never private journal text, read back robustly."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cohost.control.feedback import FeedbackRecord, FeedbackStore
from cohost.core.clock import VirtualClock
from cohost.core.events import ChatMessage, Decision, Hit, Role, SimLine, Tier, TurnTrace
from cohost.core.serialise import trace_dict

PRIVATE_TEXT = "my landlord still owes me the deposit from the old flat on Elm Street"


def message(i: int, text: str, login: str = "viewer") -> ChatMessage:
    return ChatMessage(
        id=f"id{i}",
        channel="chan",
        login=login,
        display_name=login.title(),
        text=text,
        ts=100.0 + i,
        roles=frozenset({Role.SUBSCRIBER}),
    )


def a_trace() -> TurnTrace:
    asked = message(3, "what keyboard do you use?")
    decision = Decision(
        message=asked,
        picked=True,
        score=2.5,
        parts=(("question", 0.6),),
        reason="r",
        category="picked",
    )
    return TurnTrace(
        turn_id="t1",
        decision=decision,
        started=103.0,
        hits=[
            Hit(
                entry_id="e1",
                title="Keyboard",
                text="a split keyboard",
                score=0.8,
                tier=Tier.PUBLIC,
            ),
            Hit(entry_id="e2", title="Moving", text=PRIVATE_TEXT, score=0.5, tier=Tier.PRIVATE),
        ],
        sim_lines=[
            SimLine(speaker="viewer", text="nice", is_twin=False),
            SimLine(speaker="twin", text="a split one, my wrists thank me", is_twin=True),
        ],
        reply="A split one, my wrists thank me.",
        sent=["A split one, my wrists thank me."],
        outcome="answered",
    )


def test_a_record_keeps_the_prompt_context_and_never_hit_text(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback" / "feedback.jsonl", clock=VirtualClock(777.0))
    window = [message(1, "hi chat", "a"), message(2, "gg", "b")]
    written = store.record(
        trace_dict(a_trace()), "good", "SomeMod", ["a tenkeyless one"], window=window
    )
    raw = store.path.read_text()
    assert PRIVATE_TEXT not in raw
    assert "a split keyboard" not in raw  # no hit text at all, public or not
    assert raw.count("\n") == 1
    data = json.loads(raw)
    assert set(data) == {
        "v", "ts", "verdict", "login", "turn_id", "reply", "sent", "message", "window",
        "sim_lines", "hits", "alternatives",
    }  # fmt: skip
    assert data["v"] == 1
    assert data["ts"] == 777.0
    assert data["verdict"] == "good"
    assert data["login"] == "somemod"
    assert data["turn_id"] == "t1"
    assert data["reply"] == "A split one, my wrists thank me."
    assert data["message"] == {
        "id": "id3",
        "login": "viewer",
        "display_name": "Viewer",
        "text": "what keyboard do you use?",
        "ts": 103.0,
    }
    assert data["window"] == [
        {"login": "a", "text": "hi chat", "ts": 101.0},
        {"login": "b", "text": "gg", "ts": 102.0},
    ]
    assert data["sim_lines"][1] == {
        "speaker": "twin",
        "text": "a split one, my wrists thank me",
        "is_twin": True,
    }
    assert data["hits"] == [
        {"entry_id": "e1", "title": "Keyboard", "tier": "public", "score": 0.8},
        {"entry_id": "e2", "title": "Moving", "tier": "private", "score": 0.5},
    ]
    assert data["alternatives"] == ["a tenkeyless one"]
    assert list(store.read()) == [written]


def test_the_window_can_come_from_the_trace(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl")
    data = trace_dict(a_trace())
    data["window"] = [{"login": "c", "text": "first!", "ts": 99.0, "extra": "ignored"}]
    rec = store.record(data, "bad", "m")
    assert [(w.login, w.text) for w in rec.window] == [("c", "first!")]
    assert rec.ts > 1_600_000_000  # the real clock when none is given


def test_records_append_in_order(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl")
    for verdict in ("good", "bad", "good"):
        store.record(trace_dict(a_trace()), verdict, "m")
    assert [r.verdict for r in store.read()] == ["good", "bad", "good"]
    assert store.malformed == 0


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl")
    store.record(trace_dict(a_trace()), "good", "m")
    good_line = store.path.read_bytes()
    with store.path.open("ab") as file:
        file.write(b"not json\n")
        file.write(good_line[: len(good_line) // 2] + b"\n")  # a torn line
        file.write(b'{"ts": 1, "verdict": "meh", "login": "x", "reply": "r"}\n')
        file.write(b"[1, 2]\n")
        file.write(b"\xff\xfe\n")
        file.write(b"\n")
    store.record(trace_dict(a_trace()), "bad", "m")
    records = list(store.read())
    assert [r.verdict for r in records] == ["good", "bad"]
    assert store.malformed == 5


def test_reading_a_missing_file_yields_nothing(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "none.jsonl")
    assert list(store.read()) == []
    assert store.malformed == 0


def test_lines_from_many_threads_never_interleave(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.jsonl")
    data = trace_dict(a_trace())
    data["reply"] = "x" * 20_000  # long lines are where interleaving would show

    def write(i: int) -> None:
        store.record(data, "good", f"user{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(64)))
    records = list(store.read())
    assert store.malformed == 0
    assert sorted(r.login for r in records) == sorted(f"user{i}" for i in range(64))
    assert all(isinstance(r, FeedbackRecord) for r in records)
