"""Settings pick the parts; a whole replay through model servers over real HTTP."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cohost.adapters.openai_models import OpenAIRewriter, OpenAISimulator
from cohost.app import build_models
from cohost.config import Settings, load_settings
from cohost.errors import SettingsError
from cohost.pipeline.fuse import ExtractiveRewriter
from cohost.pipeline.simulate import MarkovSimulator
from cohost.replay import replay
from tests.support.scripted_server import Script, ScriptedServer, closed_port_url

CHAT = (
    "[0:00:01] <~moss> welcome in everyone\n"
    "[0:00:05] <alice> twin, how is the bread going?\n"
    "[0:00:30] <bob> twin what game is this?\n"
)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(data_dir=tmp_path / "data", **overrides)


async def test_embedded_parts_without_urls(tmp_path: Path) -> None:
    models = build_models(_settings(tmp_path), streamer_lines=["hello there chat"])
    assert isinstance(models.simulator, MarkovSimulator)
    assert isinstance(models.rewriter, ExtractiveRewriter)
    assert "markov" in models.description
    await models.aclose()


async def test_servers_when_urls_are_set(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        simulator={"url": "http://127.0.0.1:9/v1"},
        rewriter={"url": "https://me:hunter2@api.example:8443/v1?key=k3y", "model": "base"},
    )
    models = build_models(settings)
    assert isinstance(models.simulator, OpenAISimulator)
    assert isinstance(models.rewriter, OpenAIRewriter)
    assert models.look_ahead_lines == settings.simulator.look_ahead_lines
    assert not models.embedded
    # logs and reports name the servers, never credentials; /healthz's label names no server
    assert "https://api.example:8443/v1" in models.description
    for secret in ("hunter2", "k3y", "me:"):
        assert secret not in models.description and secret not in models.label
    assert "127.0.0.1" not in models.label and "api.example" not in models.label
    await models.aclose()


def test_openai_kind_without_url_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="COHOST_SIMULATOR__URL"):
        build_models(_settings(tmp_path, simulator={"kind": "openai"}))


REPLIES = ["The bread is rising nicely, thanks for asking!", "Still rising, slowly but surely."]


def _script() -> Callable[[dict[str, Any]], Script]:
    rewrites = itertools.count()

    def answer(body: dict[str, Any]) -> Script:
        if "messages" in body:  # the rewriter; a model samples a new reply each time
            return Script(text=REPLIES[next(rewrites) % len(REPLIES)])
        return Script(text=" bread is going great\nalice: nice\ntwin: yes\n", repeat=True)

    return answer


async def test_replay_through_model_servers(tmp_path: Path) -> None:
    log = tmp_path / "chat.txt"
    log.write_text(CHAT)
    async with ScriptedServer(_script()) as server:
        settings = _settings(
            tmp_path,
            twin={"name": "twin", "streamer": "moss"},
            simulator={"url": server.url, "model": "twin"},
            rewriter={"url": server.url, "model": "base"},
            picker={"min_gap_s": 0},
        )
        result = await replay(log, tmp_path / "out", settings, progress=False)
        paths = [r.path for r in server.requests]
    report = json.loads(result.report_json.read_text())
    assert report["answered"] == 2, report
    assert [r["reply"] for r in report["replies"]] == REPLIES
    assert paths.count("/v1/completions") == 2
    assert paths.count("/v1/chat/completions") == 2
    trace = json.loads(result.traces.read_text().splitlines()[0])
    assert trace["sim_lines"][0] == {
        "speaker": "twin",
        "text": "bread is going great",
        "is_twin": True,
    }
    assert "simulate" in {s["name"] for s in trace["stages"]}


async def test_replay_with_the_simulator_down_stays_silent_with_reasons(tmp_path: Path) -> None:
    log = tmp_path / "chat.txt"
    log.write_text(CHAT)
    settings = _settings(
        tmp_path,
        twin={"name": "twin", "streamer": "moss"},
        simulator={"url": closed_port_url()},
        picker={"min_gap_s": 0},
    )
    result = await replay(log, tmp_path / "out", settings, progress=False)
    report = json.loads(result.report_json.read_text())
    assert report["answered"] == 0
    assert report["turn_outcomes"] == {"failed": 2}
    traces = [json.loads(line) for line in result.traces.read_text().splitlines()]
    assert all("refused" in t["reason"] for t in traces)


@pytest.mark.parametrize(
    ("streamer_lines", "chat_lines", "says"),
    [
        ([], [], "nothing to learn from"),
        ([], ["lol", "gg wp chat"], "learned from everyone's lines"),
        (["just one line of mine"], [], "learned from only 1 line(s) by mossbyte"),
        ([f"line number {n} of mine" for n in range(30)], [], None),
    ],
)
def test_the_embedded_twin_says_when_it_has_little_to_learn_from(
    tmp_path: Path, streamer_lines: list[str], chat_lines: list[str], says: str | None
) -> None:
    settings = load_settings(data_dir=tmp_path, twin={"name": "mossbot", "streamer": "mossbyte"})
    notes = build_models(settings, streamer_lines=streamer_lines, chat_lines=chat_lines).notes
    if says is None:
        assert notes == ()
    else:
        assert any(says in note for note in notes), notes
