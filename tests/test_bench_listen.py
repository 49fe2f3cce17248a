"""bench/listen.py: a short run hears and answers every question, and ends on its key figures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.listen import percentile
from tests.app.test_listen import require_whisper
from tests.support.audio import require_espeak


def test_percentile_is_between_the_closest_ranks() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([7.0], 95) == 7.0


def test_a_short_run_prints_its_key_figures_last() -> None:
    require_whisper()
    require_espeak()
    done = subprocess.run(
        [sys.executable, "-m", "bench.listen", "--runs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    last = done.stdout.strip().splitlines()[-1]
    figures = dict(pair.split("=") for pair in last.split())
    assert figures["answered"] == "2" and figures["runs"] == "2", done.stdout
    for name in ("heard", "reply_first_audio", "end_to_first_audio"):
        p50, p95 = float(figures[f"{name}_p50_ms"]), float(figures[f"{name}_p95_ms"])
        assert 0 < p50 <= p95, last
    # the end-to-end figure is the two stages plus the quiet the listener waits for
    assert float(figures["end_to_first_audio_p50_ms"]) > float(figures["heard_p50_ms"])
