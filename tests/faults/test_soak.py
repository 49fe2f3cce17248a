"""The soak's core with a few hundred messages: the whole daemon survives injected model faults."""

from __future__ import annotations

from bench.soak import soak


async def test_a_short_soak_has_no_crash_and_survives_its_faults() -> None:
    # a high fault rate so that even a short run meets every kind of fault
    report = await soak(300, fault_rate=0.5, seed=2)
    assert report.crashes == 0, report
    assert report.pushed == 300
    assert report.events > 0 and report.picks > 0
    assert sum(report.turns.values()) == report.picks  # every pick ended with a trace
    assert sum(report.faults.values()) > 0
    assert report.turns.get("failed", 0) > 0  # faults reached turns, and each one ended cleanly
    assert report.faults_survived == sum(report.faults.values())
