"""The replay report: why messages were picked, and what the guard did."""

from __future__ import annotations

from cohost.app.report import ReplayReport
from cohost.core.events import Flaw, GuardVerdict, Quality, TurnTrace
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


def test_the_report_says_why_picked_messages_got_no_reply_never_a_private_title() -> None:
    report = ReplayReport(source="log")
    for n in range(3):
        trace = _trace(f"s{n}", "twin hi", "silent")
        trace.reason = "every simulated twin line repeats a recent reply"
        report.add_trace(trace)
    blocked = _trace(
        "b1",
        "twin how was tuesday",
        "blocked",
        GuardVerdict(rule="privacy", action="blocked", detail="verbatim from entry 'Divorce'"),
    )
    blocked.reason = "blocked: 1 run(s), verbatim from entry 'Divorce'"
    report.add_trace(blocked)
    assert report.to_dict()["unanswered_reasons"] == {
        "silent: every simulated twin line repeats a recent reply": 3,
        "blocked: blocked by the guard (privacy)": 1,
    }
    md = report.to_markdown()
    assert "| silent: every simulated twin line repeats a recent reply | 3 |" in md
    assert "Divorce" not in md


def test_the_report_counts_what_became_of_each_reply_and_its_flaws() -> None:
    report = ReplayReport(source="log")
    reviewed: list[tuple[Quality | None, list[Flaw]]] = [
        (Quality.CLEAN, []),
        (Quality.REPAIRED, [Flaw.LABEL]),
        (Quality.FALLBACK, [Flaw.PROMPT_ECHO, Flaw.LABEL]),
        (Quality.SILENT, [Flaw.PROMPT_ECHO, Flaw.RUNAWAY]),
        (None, []),  # no reply to review: no twin line, or a failure
    ]
    for n, (quality, flaws) in enumerate(reviewed):
        trace = _trace(f"t{n}", "twin hi", "answered" if quality else "silent")
        trace.quality, trace.flaws = quality, flaws
        report.add_trace(trace)
    assert report.to_dict()["quality"] == {
        "reviewed": 4,
        "clean": 1,
        "repaired": 1,
        "fallback": 1,
        "silent": 1,
        "flaws": {"prompt_echo": 2, "label": 2, "runaway": 1, "too_long": 0, "cut": 0},
    }
    md = report.to_markdown()
    assert "## Reply quality" in md and "- replies reviewed: 4" in md
    assert "repaired: 1; fallen back to the simulated line: 1; silent: 1" in md
    assert "| prompt_echo | 2 |" in md and "| too_long | 0 |" in md
