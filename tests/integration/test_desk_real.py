"""The twin's desk with the real small model: SmolLM2-135M served by a real CPU vLLM, the twin
LoRA as the simulator, the base model as the rewriter and as a teaching candidate of its own.

Configured as a streamer would (the COHOST_* environment), opened as `cohost chat` opens it:
a typed message gets a guarded reply through the whole turn; a lesson shows candidates from the
LoRA and from the base model, each one chat message; a pick stores the pairs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cohost.app.demo import demo_files
from cohost.app.desk import REPLY, open_desk
from cohost.app.settings import load_settings
from tests.integration.conftest import RealTwin
from tests.support.chat_checks import reads_as_chat
from tests.support.smollm2 import TWIN, TWIN_LOGIN, write_log

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

CANDIDATES = 3
LOG_LINES = 60  # of the held-out part: enough for a viewer's line with a window before it


def configure(monkeypatch: pytest.MonkeyPatch, twin: RealTwin, data_dir: Path) -> None:
    """The desk's settings as the environment gives them (bounded for 2 busy CPU cores)."""
    env = {
        "COHOST_DATA_DIR": str(data_dir),
        "COHOST_TWIN__NAME": TWIN,
        "COHOST_TWIN__STREAMER": TWIN_LOGIN,
        "COHOST_SIMULATOR__URL": twin.url,
        "COHOST_SIMULATOR__MODEL": twin.lora_model,
        "COHOST_SIMULATOR__MAX_TOKENS": "64",
        "COHOST_SIMULATOR__FIRST_TOKEN_TIMEOUT_S": "30",
        "COHOST_SIMULATOR__STALL_TIMEOUT_S": "10",
        "COHOST_SIMULATOR__TIME_CAP_S": "20",
        "COHOST_REWRITER__URL": twin.url,
        "COHOST_REWRITER__MODEL": twin.base_model,
        "COHOST_REWRITER__MAX_TOKENS": "60",
        "COHOST_REWRITER__FIRST_TOKEN_TIMEOUT_S": "30",
        "COHOST_REWRITER__STALL_TIMEOUT_S": "10",
        "COHOST_REWRITER__TIME_CAP_S": "30",
        "COHOST_DESK__BASE_MODEL": twin.base_model,
        "COHOST_DESK__CANDIDATES": str(CANDIDATES),
        # the LoRA against its base: the Markov chain's candidate is tested elsewhere
        "COHOST_DESK__EMBEDDED_CANDIDATE": "false",
        "COHOST_JOURNAL__EMBEDDING_MODEL": "hashing",
        "COHOST_SPEECH__ENGINE": "captions",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def test_the_desk_talks_and_teaches_with_the_real_lora_and_its_base(
    real_twin: RealTwin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, real_twin, tmp_path / "data")
    settings = load_settings()
    heldout = real_twin.lora.heldout[:LOG_LINES]
    viewers = Counter(m.login for m in heldout if m.login != TWIN_LOGIN)
    viewer = viewers.most_common(1)[0][0]
    speakers = [s.casefold() for s in {TWIN, TWIN_LOGIN, *(m.login for m in heldout)}]
    log = tmp_path / "heldout.txt"
    write_log(heldout, log)

    async with open_desk(
        settings, journal_folder=demo_files() / "journal", streamer_lines=[]
    ) as desk:
        assert desk.models.label and "markov" not in desk.models.label.lower()
        assert [s.model for s in desk.sources] == ["twin", "base"]

        # talking: a viewer's message, the whole turn, the guard's reply
        events = [e async for e in desk.talk("twin what are you up to tonight?", login=viewer)]
        topic, end = events[-1]
        topics = [t for t, _ in events]
        print(f"talk: {end['outcome']} {end['reason']!r}: {end['reply']!r}")
        assert topic == REPLY and end["outcome"] == "answered", end
        reply = str(end["reply"])
        assert reply.strip()
        assert not reads_as_chat(reply, speakers), (reply, reads_as_chat(reply, speakers))
        assert {"turn/start", "turn/simulated", "turn/end"} <= set(topics), topics
        assert desk.last is not None and desk.last.reply == reply
        assert desk.window[-1].login == TWIN.casefold() and desk.window[-1].text == reply

        # teaching on what is typed, after the conversation so far
        shown = await desk.teach_next(text="what game should we play next?", login=viewer)
        lesson: list[dict[str, str]] = shown["candidates"]  # type: ignore[assignment]
        for c in lesson:
            print(f"typed prompt candidate ({c['model']}): {c['text']!r}")
        assert 2 <= len(lesson) <= CANDIDATES
        assert {c["model"] for c in lesson} == {"twin", "base"}, lesson
        texts = [" ".join(c["text"].split()).casefold() for c in lesson]
        assert len(set(texts)) == len(texts)
        assert all(c["text"].strip() for c in lesson)
        bad = [(c["text"], why) for c in lesson if (why := reads_as_chat(c["text"], speakers))]
        assert not bad, bad
        twin_at = next(i for i, c in enumerate(lesson) if c["model"] == "twin")
        picked = desk.teach_choose("pick", index=twin_at)
        assert picked["kind"] == "picked" and picked["pairs"] == len(lesson) - 1

        # teaching on a real chat log's viewer line
        desk.teach_from(log=log)
        shown = await desk.teach_next()
        assert not shown["done"]
        from_log: list[dict[str, str]] = shown["candidates"]  # type: ignore[assignment]
        print(f"log prompt {shown['where']}: {shown['lines'][-1]}")  # type: ignore[index]
        for c in from_log:
            print(f"log prompt candidate ({c['model']}): {c['text']!r}")
        assert 2 <= len(from_log) <= CANDIDATES
        assert {c["model"] for c in from_log} == {"twin", "base"}, from_log
        bad = [(c["text"], why) for c in from_log if (why := reads_as_chat(c["text"], speakers))]
        assert not bad, bad
        picked = desk.teach_choose("pick", index=0)
        assert picked["pairs"] == len(from_log) - 1

    pairs = [json.loads(line) for line in desk.store.pairs.read_text().splitlines()]
    print(f"pairs stored: {len(pairs)}")
    assert len(pairs) == len(lesson) - 1 + len(from_log) - 1
    chosen = f" {lesson[twin_at]['text']}\n"
    typed = [p for p in pairs if p["prompt"].endswith(f"what game should we play next?\n{TWIN}:")]
    assert typed and {p["chosen"] for p in typed} == {chosen}
    # the conversation before the typed prompt is in it: the viewer's message and the reply
    assert f"\n{viewer}: twin what are you up to tonight?\n{TWIN}: " in typed[0]["prompt"]
    assert all(p["chosen"] != p["rejected"] for p in pairs)
