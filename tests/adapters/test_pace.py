"""The time cap follows the server's measured speed: a slow model is not cut after a line."""

from __future__ import annotations

import contextlib
from contextlib import aclosing

import pytest

from cohost.adapters.openai_models import MAX_CAP_STRETCH, Deadlines, OpenAIRewriter, Pace
from cohost.core.errors import ReplyCut
from cohost.core.events import ChatMessage
from cohost.core.ports import FusionRequest
from tests.support.scripted_server import Script, ScriptedServer

CAP = Deadlines(first_token_s=5.0, stall_s=5.0, cap_s=0.6)
MESSAGE = ChatMessage(id="1", channel="c", login="ana", display_name="ana", text="hi", ts=0.0)
REQUEST = FusionRequest(twin="twin", message=MESSAGE, window=(MESSAGE,), hits=(), sim_lines=())


def test_the_cap_is_the_configured_one_until_a_pace_is_known() -> None:
    pace = Pace()
    assert pace.cap_s(6.0, 160) == 6.0
    pace.first_token(0.2)
    assert pace.cap_s(6.0, 160) == 6.0  # no rate yet
    pace.streamed(2, 1.0)
    assert pace.tokens_per_s is None  # too few tokens to tell a rate
    pace.streamed(80, 8.0)  # 10 tokens/s: 160 tokens need (0.2 + 16) * 1.25 = 20.25 s
    assert pace.cap_s(6.0, 160) == pytest.approx(6.0 * MAX_CAP_STRETCH)
    assert pace.cap_s(10.0, 40) == 10.0  # never below the configured cap
    assert pace.cap_s(1.0, 20) == pytest.approx((0.2 + 2.0) * 1.25)


async def _reply_tokens(rewriter: OpenAIRewriter) -> int:
    """How many pieces came before the model or a cap ended the reply."""
    count = 0
    with contextlib.suppress(ReplyCut):  # a capped reply says so after its last piece
        async with aclosing(rewriter.stream(REQUEST)) as pieces:
            async for _ in pieces:
                count += 1
    return count


@pytest.mark.parametrize("adaptive", [True, False])
async def test_a_slow_server_gets_the_time_its_pace_needs(adaptive: bool) -> None:
    # 20 tokens/s with a 0.6 s cap: the first reply is cut after about a dozen tokens of 40
    slow = Script(text="word " * 40, tokens_per_second=20.0)
    async with (
        ScriptedServer(slow) as server,
        OpenAIRewriter(
            url=server.url, model="m", deadlines=CAP, max_tokens=40, adaptive_cap=adaptive
        ) as rewriter,
    ):
        first = await _reply_tokens(rewriter)
        second = await _reply_tokens(rewriter)
    assert first < 20
    if adaptive:
        # the measured pace stretches the cap (to at most 3 x 0.6 s: about 36 tokens)
        assert second > first + 10
    else:
        assert second < 20
