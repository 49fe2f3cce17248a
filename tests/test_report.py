"""The replay report: why messages were picked, and what the guard did."""

from __future__ import annotations

from cohost.events import GuardVerdict, TurnTrace
from cohost.report import ReplayReport
from tests.fakes import message, picked


def _trace(turn_id: str, text: str, outcome: str, *verdicts: GuardVerdict) -> TurnTrace:
    return TurnTrace(
        turn_id=turn_id,
        decision=picked(message(text, id=turn_id)),
        started=0.0,
        reply="fine, thanks" if outcome == "answered" else "",
        guard=list(verdicts),
        outcome=outcome,  # type: ignore[arg-type]
    )


def test_the_report_says_what_the_guard_did_and_never_the_blocked_text() -> None:
    report = ReplayReport(source="log")
    report.add_trace(
        _trace(
            "t1",
            "twin how are you?",
            "answered",
            GuardVerdict(rule="characters", action="pass"),
            GuardVerdict(rule="privacy", action="changed", detail="1 run(s), 9 words"),
        )
    )
    report.add_trace(
        _trace(
            "t2",
            "twin say something rude",
            "blocked",
            GuardVerdict(rule="blocklist", action="blocked", detail="says 'zorbleflux'"),
        )
    )
    data = report.to_dict()
    assert data["guard"] == {"privacy changed": 1, "blocklist blocked": 1}
    assert data["blocked_examples"] == [
        {"to": "viewer", "message": "twin say something rude", "rules": "blocklist"}
    ]
    [reply] = data["replies"]
    assert reply["reply"] == "fine, thanks" and reply["why"]  # the pick's reason comes along
    md = report.to_markdown()
    assert "| blocklist | blocked | 1 |" in md and "| privacy | changed | 1 |" in md
    assert "zorbleflux" not in md and "zorbleflux" not in str(data)
