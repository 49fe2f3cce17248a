"""The desk on the daemon's own web app: private turns that never reach the stream's chat."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

import httpx

from cohost.app.build import build_models
from cohost.app.daemon import run_daemon
from cohost.app.demo import demo_files
from cohost.app.desk import Desk, extra_models
from cohost.app.recall_wiring import folder_journal
from cohost.app.settings import Settings, load_settings
from tests.support.scripted_server import Script, ScriptedServer

TOKEN = "a-long-random-desk-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_daemons_desk_answers_in_private(tmp_path: Path) -> None:
    port = _free_port()
    settings = load_settings(
        data_dir=tmp_path / "data",
        web={"port": port, "token": TOKEN},
        twin={
            "name": "mossbot",
            "streamer": "mossbyte",
            "writings": [str(demo_files() / "writing.md")],
        },
        journal={"embedding_model": "hashing"},
        speech={"engine": "captions"},
    )
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r")
    writer = os.fdopen(write_fd, "w")
    out = tmp_path / "out.txt"
    with stdin, writer, out.open("w") as stdout:
        daemon = asyncio.create_task(run_daemon(settings, console=True, stdin=stdin, stdout=stdout))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(WAIT_S):
                while True:  # the desk is there once the daemon's models are
                    try:
                        counts = await client.get("/desk/api/counts", headers=AUTH)
                        if counts.status_code == 200:
                            break
                    except httpx.TransportError:
                        pass  # not listening yet
                    await asyncio.sleep(0.05)
            assert counts.json()["twin"] == "mossbot"
            talk = await client.post(
                "/desk/api/talk", json={"text": "mossbot how is gerald doing?"}, headers=AUTH
            )
            assert talk.status_code == 200
            end = json.loads(talk.text.splitlines()[-1])
            assert end["topic"] == "desk/reply" and end["data"]["outcome"] == "answered"
            reply = end["data"]["reply"]
            assert reply
            health = (await client.get("/healthz")).json()
            assert not health["turns"]  # the stream ran no turn for it
        writer.close()  # end of input: the console daemon finishes and exits
        async with asyncio.timeout(WAIT_S):
            assert await daemon == 0
    # the stream's chat (the console here, Twitch live) never saw the desk's reply
    assert reply not in out.read_text()


async def test_candidates_come_from_the_twin_the_base_model_and_the_embedded_twin(
    tmp_path: Path,
) -> None:
    """A served twin (a scripted OpenAI-compatible server on loopback) and its base model."""
    drawn = itertools.count(1)
    topics = ["bread", "frogs", "keyboards", "rain", "tea", "chess", "moss", "boats"]

    def script(body: dict[str, Any]) -> Script:
        n = next(drawn)
        said = f"the {body['model']} model talks about {topics[n % len(topics)]} today"
        return Script(text=f" {said}\nleafwhistle: ok\n")

    async with ScriptedServer(script, models=("twin", "base-model")) as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            twin={
                "name": "twin",
                "streamer": "mossbyte",
                "writings": [demo_files() / "writing.md"],
            },
            simulator={"url": server.url},
            desk={"base_model": "base-model", "candidates": 3},
            journal={"embedding_model": "hashing"},
            speech={"engine": "captions"},
        )
        models = build_models(settings)
        desk = Desk(settings, models, extra=extra_models(settings, models, []))
        try:
            prompt = desk.typed_prompt("what should I bake this weekend?", login="leafwhistle")
            shown = await desk.candidates(prompt)
        finally:
            await desk.aclose()
        asked = {r.body["model"] for r in server.requests}
    assert [c.model for c in shown] == ["base", "embedded", "twin"]
    assert shown[0].text.startswith("the base-model model talks about")
    assert shown[2].text.startswith("the twin model talks about")
    assert "model talks" not in shown[1].text  # the Markov chain, from the streamer's writing
    assert asked == {"twin", "base-model"}
    # a choice among them names each candidate's model
    choice = desk.pick(prompt, shown, 1)
    assert [c.model for c in choice.record.candidates] == ["base", "embedded", "twin"]
    assert len(choice.pairs) == 2


async def test_a_reader_that_goes_away_ends_the_turn_and_the_desk_answers_on(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        twin={"name": "mossbot", "streamer": "mossbyte", "writings": [demo_files() / "writing.md"]},
        speech={"engine": "captions"},
    )
    desk = Desk(settings, build_models(settings))
    stream = desk.talk("mossbot how is gerald doing?")
    topic, _ = await anext(stream)
    assert topic == "turn/start"
    await stream.aclose()  # the page was closed mid-reply
    assert desk.last is None
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "desk-turn"]
    events = [event async for event in desk.talk("and what keyboard do you use?", login="ana")]
    topic, end = events[-1]
    assert topic == "desk/reply" and end["outcome"] == "answered"
    # the conversation holds both lines, the twin's answer last
    assert [m.login for m in desk.window][-3:] == ["mossbyte", "ana", "mossbot"]


async def test_the_desks_recall_looks_for_the_streams_topic_as_it_is_now(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        twin={"name": "mossbot", "streamer": "mossbyte", "writings": [demo_files() / "writing.md"]},
        journal={"embedding_model": "hashing", "recall_min_score": 0.05},
        speech={"engine": "captions"},
    )
    topic = {"now": ""}  # what `!twin topic` set on the stream (the daemon's TwinState)
    journal = demo_files() / "journal"
    titles: dict[str, list[str]] = {}
    with folder_journal(settings, journal, tmp_path / "index") as (recall, _):
        desk = Desk(
            settings,
            build_models(settings),
            journal=recall,
            journal_folder=journal,
            topic=lambda: topic["now"],
        )
        for now in ("", "keyboard build"):
            topic["now"] = now
            desk.forget()
            events = [e async for e in desk.talk("what are you up to tonight?", login="ana")]
            titles[now] = [
                str(hit["title"])
                for name, payload in events
                if name == "turn/hits"
                for hit in payload["hits"]  # type: ignore[attr-defined]
            ]
    assert "Keyboard build" not in titles[""]
    assert "Keyboard build" in titles["keyboard build"]


async def test_a_prompt_typed_to_teach_joins_the_conversation_with_the_answer_picked(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        twin={"name": "mossbot", "streamer": "mossbyte", "writings": [demo_files() / "writing.md"]},
        speech={"engine": "captions"},
    )
    desk = Desk(settings, build_models(settings))
    prompt = desk.typed_prompt("what game is next?", login="ana")
    shown = await desk.candidates(prompt, 2)
    assert len(shown) == 2
    desk.pick(prompt, shown, 1)
    assert [(m.login, m.text) for m in desk.window] == [
        ("ana", "what game is next?"),
        ("mossbot", shown[1].text),
    ]
    events = [e async for e in desk.talk("and after that?", login="ana")]
    assert events[-1][1]["outcome"] == "answered"
    assert desk.last is not None
    seen = [m.text for m in desk.last.window]
    assert seen[:2] == ["what game is next?", shown[1].text]  # the talk turn saw the lesson
    # a written answer joins as the twin's line too; marking all bad adds only the prompt
    prompt = desk.typed_prompt("is gerald ok?")
    desk.write(prompt, [], "gerald is  fine, he doubled")
    twin_line = desk.window[-1]
    assert (twin_line.login, twin_line.text) == ("mossbot", "gerald is fine, he doubled")
    prompt = desk.typed_prompt("any plans for the weekend?")
    desk.all_bad(prompt, await desk.candidates(prompt, 2))
    assert desk.window[-1].text == "any plans for the weekend?"
