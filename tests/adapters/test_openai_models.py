"""The OpenAI-compatible simulator and rewriter against a scripted server on loopback."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from cohost.adapters.openai_models import Deadlines, OpenAIRewriter, OpenAISimulator
from cohost.core.errors import ReplyCut, RewriterUnavailable, SimulatorUnavailable
from cohost.core.events import ChatMessage, Hit, SimLine, Tier
from cohost.core.options import RewriterSettings, SimulatorSettings
from cohost.core.ports import FusionRequest, SimRequest
from cohost.text.render import render_prompt
from tests.support.scripted_server import Script, ScriptedServer, chat_text, closed_port_url

RELAXED = Deadlines(first_token_s=10.0, stall_s=10.0, cap_s=60.0)
CHAT = chat_text(
    [
        ("twin", "hello ana, welcome"),
        ("ana", "thanks!"),
        ("bo", "what game?"),
        ("twin", "the long route, as always"),
        ("ana", "nice"),
        ("twin", "third twin line"),
    ]
)


def message(login: str, text: str, id_: str) -> ChatMessage:
    return ChatMessage(id=id_, channel="c", login=login, display_name=login, text=text, ts=0.0)


WINDOW = [message("ana", "hi twin", "1"), message("bo", "what game is this", "2")]


def sim_request(max_lines: int = 10) -> SimRequest:
    return SimRequest(window=WINDOW, twin="twin", max_lines=max_lines)


def simulator(url: str, **kwargs: Any) -> OpenAISimulator:
    kwargs.setdefault("deadlines", RELAXED)
    return OpenAISimulator(url=url, model="twin", temperature=0.0, **kwargs)


async def lines_of(sim: OpenAISimulator, request: SimRequest | None = None) -> list[SimLine]:
    async with sim:
        return [line async for line in sim.stream(request or sim_request())]


async def test_simulator_streams_lines_with_eos_ignored_on_vllm() -> None:
    async with ScriptedServer(Script(text=CHAT)) as srv:
        lines = await lines_of(simulator(srv.url, max_twin_lines=5, api_key="sekrit"))
    assert lines == [
        SimLine(speaker="twin", text="hello ana, welcome", is_twin=True),
        SimLine(speaker="ana", text="thanks!", is_twin=False),
        SimLine(speaker="bo", text="what game?", is_twin=False),
        SimLine(speaker="twin", text="the long route, as always", is_twin=True),
        SimLine(speaker="ana", text="nice", is_twin=False),
        SimLine(speaker="twin", text="third twin line", is_twin=True),
    ]
    [seen] = srv.requests
    assert seen.path == "/v1/completions"
    assert seen.body["model"] == "twin"
    assert seen.body["stream"] is True
    assert seen.body["prompt"] == render_prompt(WINDOW, "twin")
    assert seen.body["ignore_eos"] is True
    assert "logit_bias" not in seen.body
    assert seen.headers["Authorization"] == "Bearer sekrit"


@pytest.mark.parametrize("kind", ["llamacpp", "ollama", "tgwebui"])
async def test_other_servers_get_eos_banned_by_logit_bias(kind: str) -> None:
    async with ScriptedServer(Script(text=CHAT)) as srv:
        await lines_of(simulator(srv.url, server_kind=kind, eos_token_id=7))
    [seen] = srv.requests
    assert seen.body["logit_bias"] == {"7": -100}
    assert "ignore_eos" not in seen.body


async def test_simulation_stops_after_enough_twin_lines_and_hangs_up() -> None:
    script = Script(text=CHAT, repeat=True, tokens_per_second=200)
    async with ScriptedServer(script) as srv:
        lines = await lines_of(simulator(srv.url, max_twin_lines=2, max_tokens=5000))
        seen = await srv.wait_handled()
    assert [line.is_twin for line in lines] == [True, False, False, True]
    assert seen.client_gone
    assert not seen.finished


async def test_simulation_stops_after_max_lines() -> None:
    async with ScriptedServer(Script(text=CHAT, repeat=True, tokens_per_second=200)) as srv:
        lines = await lines_of(simulator(srv.url, max_tokens=5000), sim_request(max_lines=3))
        seen = await srv.wait_handled()
    assert [line.speaker for line in lines] == ["twin", "ana", "bo"]
    assert seen.client_gone


async def test_a_line_cut_by_the_token_cap_is_left_out() -> None:
    async with ScriptedServer(Script(text=CHAT)) as srv:
        lines = await lines_of(simulator(srv.url, max_tokens=8))
    # 8 tokens: " hello ana, welcome \n ana: thanks! \n bo:" -> two whole lines, "bo:" cut
    assert [line.text for line in lines] == ["hello ana, welcome", "thanks!"]


async def test_a_last_line_ended_by_the_model_is_kept() -> None:
    async with ScriptedServer(Script(text=" hi\nana: bye", finish_reason="stop")) as srv:
        lines = await lines_of(simulator(srv.url))
    assert [line.text for line in lines] == ["hi", "bye"]


async def test_time_cap_ends_the_simulation_quietly() -> None:
    script = Script(text=CHAT, repeat=True, tokens_per_second=20)
    deadlines = Deadlines(first_token_s=10.0, stall_s=10.0, cap_s=0.6)
    async with ScriptedServer(script) as srv:
        lines = await lines_of(
            simulator(srv.url, deadlines=deadlines, max_tokens=5000, max_twin_lines=50)
        )
        seen = await srv.wait_handled()
    assert seen.client_gone
    assert 0 < seen.tokens_sent < 5000
    assert all(line.text for line in lines)


async def test_closing_the_stream_hangs_up_on_the_server() -> None:
    script = Script(text=CHAT, repeat=True, tokens_per_second=100)
    async with ScriptedServer(script) as srv, simulator(srv.url, max_tokens=5000) as sim:
        async with aclosing(sim.stream(sim_request())) as lines:
            first = await anext(lines)
        seen = await srv.wait_handled()
    assert first.is_twin
    assert seen.client_gone
    assert not seen.finished


FAILURES = [
    (None, "refused"),
    (Script(status=503), "http 503"),
    (Script(status=500), "http 500"),
    (Script(text=CHAT, first_token_delay=5.0), "first token timeout"),
    (Script(text=CHAT, stall_after=3, stall_seconds=5.0), "stall"),
    (Script(text=CHAT, disconnect_after=3), "dropped"),
]
FAST_FAIL = Deadlines(first_token_s=0.5, stall_s=0.5, cap_s=30.0)


@pytest.mark.parametrize(("script", "reason"), FAILURES)
async def test_simulator_failures_become_simulator_unavailable(
    script: Script | None, reason: str
) -> None:
    if script is None:
        with pytest.raises(SimulatorUnavailable, match=f"^{reason}"):
            await lines_of(simulator(closed_port_url(), deadlines=FAST_FAIL))
        return
    async with ScriptedServer(script) as srv:
        with pytest.raises(SimulatorUnavailable, match=f"^{reason}"):
            await lines_of(simulator(srv.url, deadlines=FAST_FAIL, max_twin_lines=5))


async def test_lines_before_a_stall_arrive_before_the_error() -> None:
    script = Script(text=CHAT, stall_after=6, stall_seconds=5.0)
    got: list[SimLine] = []
    async with ScriptedServer(script) as srv:
        sim = simulator(srv.url, deadlines=FAST_FAIL, max_twin_lines=5)
        async with sim:
            with pytest.raises(SimulatorUnavailable, match=r"^stall"):
                async for line in sim.stream(sim_request()):
                    got.append(line)
        seen = await srv.wait_handled()
    assert got[0].text == "hello ana, welcome"
    assert seen.client_gone


async def test_a_stream_that_ends_without_finishing_is_dropped() -> None:
    # Some proxies end the body cleanly mid-stream: no finish_reason ever came.
    script = Script(text=CHAT, finish_reason=None)
    async with ScriptedServer(script) as srv:
        with pytest.raises(SimulatorUnavailable, match=r"^dropped"):
            await lines_of(simulator(srv.url, max_twin_lines=5))


def test_simulator_from_settings() -> None:
    settings = SimulatorSettings(kind="openai", url="http://h:1/v1", api_key="k")
    sim = OpenAISimulator.from_settings(settings, twin_logins=["twinbot"])
    prompt = sim.prompt(
        SimRequest(window=[message("twinbot", "earlier", "x")], twin="twin", max_lines=2)
    )
    assert prompt.endswith("twin: earlier\ntwin:")


HITS = [
    Hit(entry_id="a", title="Climbing", text="went bouldering on sunday", score=0.9,
        tier=Tier.PUBLIC),
    Hit(entry_id="b", title="Family", text="my sister moved to Oslo", score=0.8,
        tier=Tier.PRIVATE, tags=("family",)),
    Hit(entry_id="c", title="Bank", text="pin is 4321", score=0.7, tier=Tier.SECRET),
]  # fmt: skip


def fusion_request() -> FusionRequest:
    asked = message("ana", "twin what did you do this weekend?", "3")
    return FusionRequest(
        twin="twin",
        message=asked,
        window=[*WINDOW, asked],
        hits=HITS,
        sim_lines=[SimLine(speaker="twin", text="climbed a bit, arms gone", is_twin=True)],
    )


def rewriter(url: str, **kwargs: Any) -> OpenAIRewriter:
    kwargs.setdefault("deadlines", RELAXED)
    return OpenAIRewriter(url=url, model="base", **kwargs)


async def reply_of(rw: OpenAIRewriter) -> str:
    async with rw:
        return "".join([piece async for piece in rw.stream(fusion_request())])


async def test_rewriter_streams_the_reply() -> None:
    text = "Went bouldering on Sunday, my arms are still gone lol"
    async with ScriptedServer(Script(text=text, tokens_per_second=500)) as srv:
        pieces = []
        async with rewriter(srv.url) as rw:
            pieces = [piece async for piece in rw.stream(fusion_request())]
    assert "".join(pieces) == text
    assert len(pieces) > 1
    [seen] = srv.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "base"
    assert [m["role"] for m in seen.body["messages"]] == ["system", "user"]
    user = seen.body["messages"][1]["content"]
    assert "my sister moved to Oslo" in user  # a local rewriter sees private notes
    assert "4321" not in user


@pytest.mark.parametrize(
    ("policy", "present", "absent"),
    [
        ("redact", ["[private, redacted] a private note"], ["Oslo", "Family", "family"]),
        ("allow", ["my sister moved to Oslo"], []),
        ("block", [], ["Oslo", "Family"]),
    ],
)
async def test_external_rewriter_private_notes(
    policy: str, present: list[str], absent: list[str]
) -> None:
    async with ScriptedServer(Script(text="ok")) as srv:
        await reply_of(rewriter(srv.url, where="external", private_hits=policy))
    sent = str(srv.requests[0].body["messages"])
    assert "went bouldering on sunday" in sent  # public notes always go
    assert "4321" not in sent and "Bank" not in sent  # secret never
    for text in present:
        assert text in sent
    for text in absent:
        assert text not in sent


@pytest.mark.parametrize(("script", "reason"), FAILURES)
async def test_rewriter_failures_become_rewriter_unavailable(
    script: Script | None, reason: str
) -> None:
    if script is None:
        with pytest.raises(RewriterUnavailable, match=f"^{reason}"):
            await reply_of(rewriter(closed_port_url(), deadlines=FAST_FAIL))
        return
    async with ScriptedServer(script) as srv:
        with pytest.raises(RewriterUnavailable, match=f"^{reason}"):
            await reply_of(rewriter(srv.url, deadlines=FAST_FAIL))


async def test_closing_the_reply_hangs_up_on_the_server() -> None:
    script = Script(text="word " * 50, repeat=True, tokens_per_second=100)
    async with ScriptedServer(script) as srv, rewriter(srv.url, max_tokens=5000) as rw:
        async with aclosing(rw.stream(fusion_request())) as pieces:
            await anext(pieces)
        seen = await srv.wait_handled()
    assert seen.client_gone


async def test_a_reply_stopped_by_its_token_cap_says_so_after_its_last_piece() -> None:
    text = "Went bouldering on Sunday and my arms are still completely gone"
    async with ScriptedServer(Script(text=text)) as srv, rewriter(srv.url, max_tokens=4) as rw:
        pieces: list[str] = []
        with pytest.raises(ReplyCut, match="4-token cap"):
            async for piece in rw.stream(fusion_request()):
                pieces.append(piece)
    assert pieces and text.startswith("".join(pieces)) and "".join(pieces) != text


async def test_a_reply_the_model_ended_is_not_cut() -> None:
    async with ScriptedServer(Script(text="lol yeah")) as srv:
        assert await reply_of(rewriter(srv.url, max_tokens=40)) == "lol yeah"


def test_rewriter_from_settings() -> None:
    settings = RewriterSettings(kind="openai", where="external", private_hits="block")
    rw = OpenAIRewriter.from_settings(settings)
    user = rw.messages(fusion_request())[1]["content"]
    assert isinstance(user, str)
    assert "Family" not in user
    # the prompt as traced is the messages as sent: the same privacy applies
    prompt = rw.prompt(fusion_request())
    assert prompt.startswith("# system\n") and f"# user\n{user}" in prompt
    assert "Family" not in prompt
