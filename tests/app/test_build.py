"""Settings pick the parts; a whole replay through model servers over real HTTP."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cohost.adapters.openai_models import OpenAIRewriter, OpenAISimulator
from cohost.app.build import build_models
from cohost.app.replay import replay
from cohost.app.settings import Settings, load_settings
from cohost.core.errors import SettingsError
from cohost.embedded.extractive import ExtractiveRewriter
from cohost.embedded.markov import MarkovSimulator
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
    ("streamer_lines", "says"),
    [
        ([], "nothing to learn from: the streamer mossbyte said nothing here"),
        (["just one line of mine"], "learned from only 1 line(s) (1 by mossbyte, 0 from writings)"),
        ([f"line number {n} of mine" for n in range(30)], None),
    ],
)
def test_the_embedded_twin_says_when_it_has_little_to_learn_from(
    tmp_path: Path, streamer_lines: list[str], says: str | None
) -> None:
    settings = load_settings(data_dir=tmp_path, twin={"name": "mossbot", "streamer": "mossbyte"})
    notes = build_models(settings, streamer_lines=streamer_lines).notes
    if says is None:
        assert notes == ()
    else:
        assert any(says in note for note in notes), notes


def test_a_few_writing_lines_are_still_too_few_and_said(tmp_path: Path) -> None:
    writing = tmp_path / "me.txt"
    writing.write_text("I bake bread. I solder keyboards.\n")
    settings = load_settings(
        data_dir=tmp_path, twin={"name": "mossbot", "streamer": "mossbyte", "writings": [writing]}
    )
    notes = build_models(settings, streamer_lines=["hi chat"]).notes
    assert any("learned from only 3 line(s) (1 by mossbyte, 2 from writings)" in n for n in notes)


# The streamer never speaks; viewers, a moderator and a bot do. Their words must never become
# the twin's (the old fallback trained on everyone's lines and quoted the leaderboard).
OTHERS_ONLY = (
    "[0:00:01] <streamelements> top chatters this week: gorbo 512 points, lemmy 300 points\n"
    "[0:00:03] <@modzilla> stop spamming links or you get a timeout\n"
    "[0:00:05] <gorbo> spaghetti wrestling at midnight is my passion\n"
    "[0:00:20] <alice> twin, what do you think about spaghetti wrestling?\n"
    "[0:00:40] <bob> twin what game is this? top chatters?\n"
    "[0:01:10] <carol> twin do you like points and timeout links?\n"
)


async def test_the_embedded_twin_never_learns_from_other_chatters_or_bots(tmp_path: Path) -> None:
    log = tmp_path / "chat.txt"
    log.write_text(OTHERS_ONLY)
    settings = _settings(
        tmp_path, twin={"name": "twin", "streamer": "moss"}, picker={"min_gap_s": 0}
    )
    result = await replay(log, tmp_path / "out", settings, progress=False)
    report = json.loads(result.report_json.read_text())
    traces = [json.loads(line) for line in result.traces.read_text().splitlines()]
    assert report["picked"] >= 2
    assert report["answered"] == 0  # nothing of its own to say: silence, never their words
    said = [line["text"] for t in traces for line in t["sim_lines"] if line["is_twin"]]
    assert said == []
    assert any("nothing to learn from" in note for note in report["notes"]), report["notes"]


async def test_the_twin_model_gets_a_fresh_seed_unless_one_is_set(tmp_path: Path) -> None:
    log = tmp_path / "chat.txt"
    log.write_text(CHAT)
    for seed, sent in ((None, set()), (5, {5})):
        async with ScriptedServer(_script()) as server:
            fixed = {} if seed is None else {"seed": seed}  # unset: the default
            settings = _settings(
                tmp_path,
                twin={"name": "twin", "streamer": "moss"},
                simulator={"url": server.url, "model": "twin", **fixed},
                rewriter={"url": server.url, "model": "base"},
                picker={"min_gap_s": 0},
            )
            await replay(log, tmp_path / f"out{seed}", settings, progress=False)
            bodies = [r.body for r in server.requests if r.path == "/v1/completions"]
        assert len(bodies) == 2
        assert {b["seed"] for b in bodies if "seed" in b} == sent
        if seed is None:
            assert not any("seed" in b for b in bodies)


def test_no_seed_is_the_default_and_an_empty_one_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().simulator.seed is None
    monkeypatch.setenv("COHOST_SIMULATOR__SEED", "")
    assert load_settings().simulator.seed is None
    monkeypatch.setenv("COHOST_SIMULATOR__SEED", "7")
    assert load_settings().simulator.seed == 7


def _adapter(tmp_path: Path, trained_as: str | None) -> Path:
    folder = tmp_path / "lora"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    if trained_as is not None:
        (folder / "cohost_twin.json").write_text(json.dumps({"twin": trained_as}))
    return folder


def _served(tmp_path: Path, name: str, adapter: Path) -> Settings:
    return _settings(
        tmp_path,
        twin={"name": name},
        simulator={"url": "http://127.0.0.1:9/v1", "adapter": str(adapter)},
    )


def test_a_twin_lora_trained_as_another_name_is_refused(tmp_path: Path) -> None:
    settings = _served(tmp_path, "twin", _adapter(tmp_path, "mossbot"))
    with pytest.raises(SettingsError) as caught:
        build_models(settings)
    message = str(caught.value)
    assert "trained as 'mossbot', but it would be served as 'twin'" in message
    assert "COHOST_TWIN__NAME=mossbot" in message


async def test_a_twin_lora_served_as_the_name_it_was_trained_as_is_accepted(
    tmp_path: Path,
) -> None:
    # the name is compared as rendered: "Moss Bot" is written MossBot in the model's text
    models = build_models(_served(tmp_path, "Moss Bot", _adapter(tmp_path, "MossBot")))
    assert models.notes == ()
    await models.aclose()


async def test_a_twin_lora_that_does_not_say_its_name_is_a_note(tmp_path: Path) -> None:
    models = build_models(_served(tmp_path, "twin", _adapter(tmp_path, None)))
    assert any("does not say which name it was trained as" in n for n in models.notes)
    await models.aclose()


def test_a_missing_adapter_folder_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"COHOST_SIMULATOR__ADAPTER: .*no such adapter folder"):
        build_models(_served(tmp_path, "twin", tmp_path / "nowhere"))
