"""The listener's pure parts: cutting utterances, hearing the twin's name, knowing its echo."""

from __future__ import annotations

import array

from cohost.core.ports import SAMPLE_RATE
from cohost.pipeline.listen import ListenOptions, UtteranceCutter, address_twin, is_echo

FRAME = int(SAMPLE_RATE * 0.03)


def frame(level: int) -> bytes:
    return array.array("h", [level if i % 2 else -level for i in range(FRAME)]).tobytes()


def test_utterances_are_cut_at_a_pause() -> None:
    cutter = UtteranceCutter(ListenOptions(threshold=0.01, silence_s=0.3))
    stream = [frame(0)] * 10 + [frame(3000)] * 20 + [frame(0)] * 12 + [frame(3000)] * 5
    out = [u for f in stream if (u := cutter.push(f)) is not None]
    assert len(out) == 1 and len(out[0]) == (20 + 10) * FRAME * 2  # speech, then the pause
    last = cutter.flush()
    assert last is not None and len(last) == 5 * FRAME * 2


def test_a_long_utterance_is_cut_at_its_limit() -> None:
    cutter = UtteranceCutter(ListenOptions(max_utterance_s=0.3))
    out = [u for _ in range(25) if (u := cutter.push(frame(3000))) is not None]
    assert len(out) == 2


def test_a_misheard_twin_name_after_a_greeting_is_the_name() -> None:
    assert address_twin("Hey Mossot, what game is next?", ["mossbot"]) == (
        "Hey mossbot, what game is next?"
    )
    assert address_twin("Okay twin bot what now", ["twinbot"]) == "Okay twinbot what now"
    assert address_twin("Twinbot, hi", ["twinbot"]) == "twinbot, hi"
    # a sentence that only mentions something like it, later, is left alone
    assert address_twin("We ate a mossy rock yesterday", ["mossbot"]) == (
        "We ate a mossy rock yesterday"
    )


def test_the_twins_own_words_heard_again_are_its_echo() -> None:
    said = ["Frog Night is next, right after the break!"]
    assert is_echo("frog night is next right after the break", said, 0.75)
    assert is_echo("right after the break", said, 0.75)  # a part of it
    assert not is_echo("what game is next?", said, 0.75)
    assert not is_echo("", said, 0.75)
