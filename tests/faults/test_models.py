"""Model servers failing mid-replay: refused, 5xx, a late first token, a stall, a cut stream.

The simulator refused outright is covered by tests/app/test_build.py
(`test_replay_with_the_simulator_down_stays_silent_with_reasons`); the turn-level fallback with
fakes by tests/pipeline/test_turn.py. Here every fault comes over real HTTP from the scripted
server, on the first request only, so the replay must go on and answer the next message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cohost.app.replay import replay
from cohost.app.settings import load_settings
from tests.support.scripted_server import Script, ScriptedServer, closed_port_url

CHAT = (
    "[0:00:01] <~moss> welcome in everyone\n"
    "[0:00:05] <alice> twin, how is the bread going?\n"
    "[0:00:30] <bob> twin what game is this?\n"
)
SIM_TEXT = " bread is going great\nalice: nice\ntwin: yes\n"
REPLY = "The bread is rising nicely, thanks for asking!"
DEADLINE_S = 0.3  # the adapters' first-token and stall limits here; faults last longer
LATE_S = 1.5

FAULTS: dict[str, Script] = {
    "5xx": Script(status=503),
    "first token late": Script(text=REPLY, first_token_delay=LATE_S),
    "stall mid-stream": Script(text=REPLY, stall_after=2, stall_seconds=LATE_S),
    "disconnect mid-stream": Script(text=REPLY, disconnect_after=2),
}
# What each fault leaves in the failed turn's reason.
REASONS = {
    "refused": "refused",
    "5xx": "503",
    "first token late": "first token",
    "stall mid-stream": "stall",
    "disconnect mid-stream": "dropped",
}


class FaultOnce:
    """Scripts the server: the first request to one endpoint gets the fault, the rest are fine."""

    def __init__(self, faulty: str, fault: Script) -> None:
        self.faulty = faulty
        self.fault = fault
        self.seen: dict[str, int] = {}

    def __call__(self, body: dict[str, Any]) -> Script:
        kind = "rewriter" if "messages" in body else "simulator"
        self.seen[kind] = self.seen.get(kind, 0) + 1
        if kind == self.faulty and self.seen[kind] == 1:
            fault = self.fault
            if kind == "simulator":
                fault = Script(
                    text=SIM_TEXT,
                    repeat=True,
                    status=fault.status,
                    first_token_delay=fault.first_token_delay,
                    stall_after=fault.stall_after,
                    stall_seconds=fault.stall_seconds,
                    disconnect_after=fault.disconnect_after,
                )
            return fault
        if kind == "rewriter":
            return Script(text=REPLY)
        return Script(text=SIM_TEXT, repeat=True)


async def _replay(tmp_path: Path, sim_url: str, rewrite_url: str) -> tuple[dict[str, Any], list]:
    log = tmp_path / "chat.txt"
    log.write_text(CHAT)
    limits = {"first_token_timeout_s": DEADLINE_S, "stall_timeout_s": DEADLINE_S}
    settings = load_settings(
        data_dir=tmp_path / "data",
        twin={"name": "twin", "streamer": "moss"},
        simulator={"url": sim_url, "model": "twin", **limits},
        rewriter={"url": rewrite_url, "model": "base", **limits},
        picker={"min_gap_s": 0},
    )
    result = await replay(log, tmp_path / "out", settings, progress=False)
    report = json.loads(result.report_json.read_text())
    traces = [json.loads(line) for line in result.traces.read_text().splitlines()]
    return report, traces


def _first_failed_then_answered(report: dict[str, Any], traces: list[dict[str, Any]]) -> None:
    # the replay went on, both turns were written, and the counter shows the failure
    assert report["turn_outcomes"] == {"failed": 1, "answered": 1}, report
    assert [t["outcome"] for t in traces] == ["failed", "answered"]
    assert traces[1]["reply"] == REPLY


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_simulator_fault_fails_one_turn_and_the_replay_goes_on(
    tmp_path: Path, fault: str
) -> None:
    async with ScriptedServer(FaultOnce("simulator", FAULTS[fault])) as server:
        report, traces = await _replay(tmp_path, server.url, server.url)
    _first_failed_then_answered(report, traces)
    reason = traces[0]["reason"]
    assert reason.startswith("SimulatorUnavailable") and REASONS[fault] in reason, reason


@pytest.mark.parametrize("fault", ["5xx", "first token late"])
async def test_rewriter_fault_before_any_text_falls_back_to_the_simulated_line(
    tmp_path: Path, fault: str
) -> None:
    async with ScriptedServer(FaultOnce("rewriter", FAULTS[fault])) as server:
        report, traces = await _replay(tmp_path, server.url, server.url)
    assert report["turn_outcomes"] == {"answered": 2}, report
    first, second = traces
    # stated policy: nothing came from the rewriter, so the simulated twin line is the reply
    assert first["reply"] == "bread is going great"
    assert first["reason"].startswith("rewriter unavailable") and REASONS[fault] in first["reason"]
    assert second["reply"] == REPLY and not second["reason"]


async def test_rewriter_refused_falls_back_on_every_turn(tmp_path: Path) -> None:
    days = iter(range(1, 100))

    def simulation(body: dict[str, Any]) -> Script:
        # a new twin line each time: the twin would not say the same fallback line twice
        return Script(text=f" bread is going great, day {next(days)}\nalice: nice\n", repeat=True)

    async with ScriptedServer(simulation) as server:
        report, traces = await _replay(tmp_path, server.url, closed_port_url())
    assert report["turn_outcomes"] == {"answered": 2}, report
    assert [t["reply"] for t in traces] == [
        "bread is going great, day 1",
        "bread is going great, day 2",
    ]
    assert all("rewriter unavailable" in t["reason"] for t in traces)


@pytest.mark.parametrize("fault", ["stall mid-stream", "disconnect mid-stream"])
async def test_rewriter_cut_mid_reply_fails_that_turn_and_posts_no_half_reply(
    tmp_path: Path, fault: str
) -> None:
    async with ScriptedServer(FaultOnce("rewriter", FAULTS[fault])) as server:
        report, traces = await _replay(tmp_path, server.url, server.url)
    _first_failed_then_answered(report, traces)
    # stated policy: half a reply is not posted, and the simulated line would read out of place
    assert traces[0]["sent"] == []
    reason = traces[0]["reason"]
    assert reason.startswith("RewriterUnavailable") and REASONS[fault] in reason, reason
