"""What real models leak into a reply: found, repaired where safe, else a fallback or silence."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator

import pytest

from cohost.core.clock import VirtualClock
from cohost.core.errors import ReplyCut
from cohost.core.events import Flaw, Quality, SimLine
from cohost.core.options import GuardSettings
from cohost.core.ports import FusionRequest
from cohost.pipeline.deliver import RecordingSink
from cohost.pipeline.guard import Guard
from cohost.pipeline.quality import (
    REPLY_CAP_MIN,
    PromptMarkers,
    QualityCheck,
    SpeechGate,
    default_markers,
    prompt_echo,
    reply_cap,
    runaway,
    speaker_labels,
    too_long,
)
from cohost.pipeline.turn import Turn, TurnOptions, TurnParts
from cohost.text.render import PROMPTS_DIR, FusionTemplate, load_fusion_template
from tests.fakes import RecordingSpeaker, ScriptedRewriter, ScriptedSimulator, message, picked

TWIN = "mossbyte"
SIM = [
    SimLine(speaker=TWIN, text="gerald is thriving, thanks for asking", is_twin=True),
    SimLine(speaker="ana", text="who is gerald", is_twin=False),
]
CHECK = QualityCheck.for_turn(TWIN, SIM, ["viewer", "bo"])

# Replies SmolLM2-135M-Instruct wrote as the rewriter, verbatim.
ECHO = "## Recent chat ```text"
LABELLED = "mossbyte: lol yeah"
STUCK = "I'm sorry, I'm sorry, I'm sorry, I'm sorry, I'm sorry"


# ---- the checks one by one ------------------------------------------------------------------


def test_the_prompts_own_structure_is_unusable() -> None:
    found = prompt_echo(ECHO)
    assert found.flaw is Flaw.PROMPT_ECHO and not found.usable


def test_section_names_come_from_the_template() -> None:
    markers = default_markers()
    assert markers.sections == (
        "Notes",
        "Recent chat",
        "Already said",
        "Simulated chat",
        "Message to answer",
    )
    edited = FusionTemplate(
        system="You write one chat line for {twin} and nothing more at all.",
        user="## Lore\n{facts}\n\n## The viewer\n{message}\n\nAnswer as {twin} right now please.",
    )
    mine = PromptMarkers.from_template(edited)
    assert mine.sections == ("Lore", "The viewer")
    assert prompt_echo("Lore:\nthe castle fell\nok sure", mine).text == "the castle fell\nok sure"
    assert prompt_echo("The viewer\nhey", mine).text == "hey"
    assert prompt_echo("Answer as mossbyte right now please. lol ok", mine).text == "lol ok"
    # another template's names are words here
    assert prompt_echo("Lore: the castle fell").flaw is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (ECHO, ""),
        ("## Notes\nlol yeah gerald is huge now", "lol yeah gerald is huge now"),
        ("# user\nhi chat", "hi chat"),
        ("```text\ngerald doubled overnight\n```", "gerald doubled overnight"),
        ("Recent chat:\nsure thing", "sure thing"),
        ("**Simulated chat**\nwe ride at dawn", "we ride at dawn"),
        ("Message to answer: how is gerald", ""),
        ("Write mossbyte's message now, and nothing else. gerald is fine", "gerald is fine"),
        ("write MOSSBYTE's message now and nothing else", ""),
        ("You are the writing hand of mossbyte", ""),
        ("- [public] Gerald: Gerald doubled.\nnice", "nice"),
        ("(nothing yet)", ""),
    ],
)
def test_prompt_echo_is_taken_out(text: str, kept: str) -> None:
    found = prompt_echo(text)
    assert found.flaw is Flaw.PROMPT_ECHO
    assert found.text == kept


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (LABELLED, "lol yeah"),  # the twin's own label: its words stay
        ("**mossbyte:** hi", "hi"),
        ("ana: lol yeah", ""),  # another speaker's line: not the twin's words
        ("lol yeah. ana: hi there. how are you", "lol yeah."),
        ("nice one! Viewer: what? mossbyte: gerald, obviously", "nice one! gerald, obviously"),
        ("sure\nbo: hey\nsee you", "sure\nsee you"),
    ],
)
def test_speaker_labels_anywhere(text: str, kept: str) -> None:
    found = CHECK.labels(text)
    assert found.flaw is Flaw.LABEL
    assert found.text == kept


def test_a_label_of_anyone_not_in_the_turn_is_words() -> None:
    assert speaker_labels("dex: is not here, so this is words", [TWIN], ["ana"]).flaw is None


def test_a_time_or_an_address_is_never_a_label_even_for_a_name_like_it() -> None:
    names = ["https", "10", "ana"]
    for text in ("https://example.com has it", "10:30 works for me", "ana:30 is a joke"):
        assert speaker_labels(text, [TWIN], names).flaw is None, text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (STUCK, "I'm sorry"),
        ("I'm sorry I'm sorry I'm sorry", "I'm sorry"),
        ("gerald is fine. gerald is fine. gerald is fine.", "gerald is fine."),
        (
            "Hi chat! gerald doubled overnight. gerald doubled overnight.",
            "Hi chat! gerald doubled overnight.",
        ),
        ("I love gerald and I love gerald so I love gerald", "I love gerald"),
        ("KEKW KEKW KEKW KEKW KEKW KEKW", "KEKW"),
    ],
)
def test_runaway_repetition_is_cut_to_its_first_saying(text: str, kept: str) -> None:
    found = runaway(text)
    assert found.flaw is Flaw.RUNAWAY
    assert found.text == kept


def test_a_long_reply_is_cut_at_a_sentence_end_never_mid_word() -> None:
    text = (
        "Gerald is doing great today. He doubled overnight and the kitchen smells like a bakery "
        "now. Chat keeps asking for the recipe so maybe we stream a bake next week and everyo"
    )
    found = too_long(text, 150)
    assert found.flaw is Flaw.TOO_LONG
    kept = "Gerald is doing great today. He doubled overnight and the kitchen smells like a bakery"
    assert found.text == kept + " now."
    assert text.startswith(found.text) and len(found.text) <= 150
    # a first sentence past the cap leaves nothing that can be cut safely
    assert not too_long("and " * 60 + "so on", 150).usable


def test_the_cap_follows_the_twins_own_lines() -> None:
    assert reply_cap(SIM) == REPLY_CAP_MIN  # a short line: the floor
    long_line = SimLine(speaker=TWIN, text="x" * 100, is_twin=True)
    assert reply_cap([long_line, SimLine(speaker="ana", text="y" * 400, is_twin=False)]) == 250


GOOD = [
    "lol yeah",
    "gerald is thriving 🍞✨ thanks for asking!",
    "PSA: the stream ends at 10:30 tonight",
    "see https://example.com/a:b for the recipe",
    "@ana: welcome back! How was the trip?",
    "KEKW KEKW KEKW",
    "no no no, the left door",
    "the recent chat is wild today",
    "my notes say gerald doubled, which is huge",
    "#1 bread fan right here",
    "we asked ana: she said gerald is fine",  # a name and a colon inside a sentence
    "ratio is 2:1 for the dough. I think it is great. I think you will love it.",
    "Bo said hi. Simulated chats are not a thing I do.",
]


@pytest.mark.parametrize("text", GOOD)
def test_good_replies_pass_unchanged(text: str) -> None:
    review = CHECK.review(text)
    assert review.clean, review.details
    assert review.text == text


# ---- whole replies and the voice ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept", "flaws"),
    [
        (ECHO, "", (Flaw.PROMPT_ECHO,)),
        (LABELLED, "lol yeah", (Flaw.LABEL,)),
        (STUCK, "I'm sorry", (Flaw.RUNAWAY,)),
        ("```text\nmossbyte: gerald rules\n```", "gerald rules", (Flaw.PROMPT_ECHO, Flaw.LABEL)),
        (
            "## Message to answer\n```text\nana: who is gerald\n```",
            "",
            (Flaw.PROMPT_ECHO, Flaw.LABEL),
        ),
    ],
)
def test_a_review_runs_every_check_in_order(text: str, kept: str, flaws: tuple[Flaw, ...]) -> None:
    review = CHECK.review(text)
    assert review.text == kept
    assert review.flaws == flaws
    assert review.usable is bool(kept)


def test_the_voice_never_says_a_flawed_chunk() -> None:
    gate = SpeechGate(CHECK)
    chunks = [
        "## Recent chat",
        "```text",
        "gerald doubled.",
        "ana: no way.",
        "how?",
        "mossbyte: yes!",
    ]
    assert [gate.admit(c) for c in chunks] == ["", "", "gerald doubled.", "", "", "yes!"]
    stuck = SpeechGate(CHECK)
    said = [stuck.admit(c) for c in ["I'm sorry, I'm sorry,", "I'm sorry, I'm sorry.", "ok then."]]
    assert said == ["I'm sorry, I'm sorry,", "", ""]  # once it runs away, nothing more
    long = SpeechGate(CHECK)
    sentences = [
        "Gerald doubled overnight again.",
        "The kitchen smells like a bakery.",
        "Chat keeps asking for the recipe.",
        "Maybe we bake live next week.",
        "Rye flour is on the list.",
        "The cat wants in on it too.",
    ]
    spoken = [s for s in map(long.admit, sentences) if s]
    assert len(" ".join(spoken)) <= CHECK.cap < len(" ".join(sentences))
    assert Flaw.TOO_LONG in long.flaws


# ---- whole turns ----------------------------------------------------------------------------


def make_turn(
    reply: str,
    sim: list[SimLine] | None = None,
    *,
    sink: RecordingSink,
    speaker: RecordingSpeaker,
    mode: str = "pipelined",
    blocklist: tuple[str, ...] = (),
) -> Turn:
    msg = message("mossbyte how is gerald?", login="ana", id="m1")
    parts = TurnParts(
        simulator=ScriptedSimulator(sim or SIM),
        rewriter=ScriptedRewriter(reply),
        guard=Guard(GuardSettings(blocklist=list(blocklist))),
        clock=VirtualClock(1000.0),
        speaker=speaker,
        sink=sink,
    )
    options = TurnOptions(twin=TWIN, mode=mode, lookahead_lines=1)  # type: ignore[arg-type]
    return Turn(parts, options, picked(msg), [message("hi chat", login="bo"), msg])


LEAKS = re.compile(r"```|## |(?:^|[.!?]\s+)(?:mossbyte|ana|bo|viewer)\s*:", re.IGNORECASE)


def _nothing_leaked(sink: RecordingSink, speaker: RecordingSpeaker) -> None:
    for text in [*(sent for sent, _ in sink.sent), *speaker.said]:
        assert not LEAKS.search(text), text


async def test_a_prompt_echo_falls_back_to_the_simulated_line() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    echo = "## Recent chat\n```text\nana: mossbyte how is gerald?\n```"
    trace = await make_turn(echo, sink=sink, speaker=speaker).run()
    assert trace.outcome == "answered", trace.reason
    assert trace.quality is Quality.FALLBACK
    assert Flaw.PROMPT_ECHO in trace.flaws
    assert trace.reply == SIM[0].text
    assert sink.sent == [(SIM[0].text, "m1")]
    assert speaker.said == [SIM[0].text]  # said whole: nothing of the echo was spoken
    assert "simulated twin line" in trace.reason
    _nothing_leaked(sink, speaker)


@pytest.mark.parametrize(
    ("sim_line", "blocklist"),
    [
        ("I'm sorry I'm sorry I'm sorry I'm sorry", ()),  # the stand-in runs away too
        ("gerald is a zorbleflux", ("zorbleflux",)),  # the stand-in is blocked by the guard
    ],
)
async def test_a_reply_and_simulation_of_garbage_leave_the_turn_silent(
    sim_line: str, blocklist: tuple[str, ...]
) -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    sim = [SimLine(speaker=TWIN, text=sim_line, is_twin=True), SIM[1]]
    garbage = (
        "## Notes\n```text\n- [public] Gerald: Gerald doubled.\n```\nWrite mossbyte's message now"
    )
    trace = await make_turn(garbage, sim, sink=sink, speaker=speaker, blocklist=blocklist).run()
    assert trace.outcome == "silent"
    assert trace.quality is Quality.SILENT
    assert trace.flaws == [Flaw.PROMPT_ECHO]
    assert trace.reply == "" and sink.sent == [] and speaker.said == []
    assert "unusable (prompt_echo)" in trace.reason


async def test_a_repaired_reply_is_sent_repaired() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    reply = "## Notes\nGerald doubled overnight. ana: no way. He smells like a bakery."
    trace = await make_turn(reply, sink=sink, speaker=speaker).run()
    assert trace.outcome == "answered"
    assert trace.quality is Quality.REPAIRED
    assert trace.flaws == [Flaw.PROMPT_ECHO, Flaw.LABEL]
    assert sink.sent == [("Gerald doubled overnight.", "m1")]
    assert speaker.said == ["Gerald doubled overnight."]
    assert any(v.rule == "quality" and v.action == "changed" for v in trace.guard)


async def test_a_label_the_shaper_took_off_counts_as_repaired() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    trace = await make_turn(LABELLED, sink=sink, speaker=speaker).run()
    assert trace.quality is Quality.REPAIRED and trace.flaws == [Flaw.LABEL]
    assert sink.sent == [("lol yeah", "m1")]


async def test_a_clean_reply_is_sent_as_written() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    reply = "PSA: gerald doubled at 10:30 🍞 see https://example.com/gerald"
    trace = await make_turn(reply, sink=sink, speaker=speaker).run()
    assert trace.quality is Quality.CLEAN and trace.flaws == []
    assert sink.sent == [(reply, "m1")]
    assert not any(v.rule == "quality" for v in trace.guard)


BAD = [
    ECHO,
    LABELLED,
    STUCK,
    "ana: who is gerald\nmossbyte: my starter",
    "Sure! ana: lol\n## Already said\n```\nmossbyte: gerald\n```",
    "```text\nbo: hi chat\n```\n## Simulated chat\nmossbyte: gerald is thriving",
    "lol. Bo: gerald? mossbyte: gerald. " * 3,
    "Gerald is fine. " + "and then we kept going " * 12,
]


@pytest.mark.parametrize("mode", ["pipelined", "sequential"])
@pytest.mark.parametrize("reply", BAD)
async def test_nothing_of_the_prompt_or_a_label_reaches_chat_or_the_voice(
    reply: str, mode: str
) -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    trace = await make_turn(reply, sink=sink, speaker=speaker, mode=mode).run()
    assert trace.quality in (Quality.REPAIRED, Quality.FALLBACK), trace.reason
    assert trace.flaws
    _nothing_leaked(sink, speaker)
    assert all(len(sent) <= CHECK.cap for sent, _ in sink.sent)


def test_the_default_markers_are_those_of_every_bundled_template() -> None:
    default = default_markers()
    for path in PROMPTS_DIR.glob("fusion*.md"):
        one = PromptMarkers.from_template(load_fusion_template(path))
        assert set(one.sections) <= set(default.sections), path
    a = FusionTemplate(system="## Lore\nYou write one chat line for {twin} and no more.", user="x")
    b = FusionTemplate(system="## Quest\nKeep it short and sweet for every viewer.", user="x")
    both = PromptMarkers.merged([PromptMarkers.from_template(a), PromptMarkers.from_template(b)])
    assert both.sections == ("Lore", "Quest")
    assert prompt_echo("You write one chat line. ok", both).text == "ok"
    assert prompt_echo("Keep it short and sweet. ok", both).text == "ok"


def test_an_instruction_echoed_with_a_contraction_is_still_an_echo() -> None:
    # what SmolLM2 wrote in a real replay with the compact prompt ("You are {twin}, the co-host…")
    found = prompt_echo(
        "You're twin, the co-host of a Twitch stream, chatting with viewers. What's that smell?"
    )
    assert found.flaw is Flaw.PROMPT_ECHO and found.text == "What's that smell?"
    assert prompt_echo("you're a legend, that run was clean").flaw is None


def test_a_label_in_italics_is_a_label() -> None:
    # SmolLM2 with the sectioned prompt wrote the chat on, each line's name in italics
    found = speaker_labels(
        "*twin: so that run was wild. *ElenaManetta: wow, did you mean it? *TeEmeraE: read the",
        ["twin"],
        ["elenamanetta", "teemerae"],
    )
    assert found.flaw is Flaw.LABEL
    assert "ElenaManetta" not in found.text and "TeEmeraE" not in found.text
    assert found.text.startswith("so that run was wild.")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Gerald is thriving! No more than 3 sentences.", "Gerald is thriving!"),
        ("lol same (about 40 characters, 8 words)", "lol same"),
        ("Under 200 characters. gerald says hi", "gerald says hi"),
        ("Like mossbyte's own simulated line. gerald rules", "gerald rules"),
        ("No markdown, no hashtags. gerald rules", "gerald rules"),
    ],
)
def test_words_about_the_replys_form_are_the_prompts(text: str, kept: str) -> None:
    found = prompt_echo(text)
    assert found.flaw is Flaw.PROMPT_ECHO, text
    assert found.text == kept


@pytest.mark.parametrize(
    "text",
    [
        "I said it in about 5 words and chat laughed at me for the rest of the night",
        "the bread took about 3 hours",
        "give me five words for gerald",
    ],
)
def test_a_count_in_the_twins_own_words_stays(text: str) -> None:
    assert prompt_echo(text).flaw is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Gerald doubled. He smells like a bak", "Gerald doubled."),
        ("Gerald doubled! 🍞 and then the jar", "Gerald doubled! 🍞"),
        ("gerald is the best starter in the whole wor", ""),
    ],
)
def test_a_cut_reply_loses_its_unfinished_end(text: str, kept: str) -> None:
    review = CHECK.review(text, cut=True)
    assert review.flaws == (Flaw.CUT,)
    assert review.text == kept


@pytest.mark.parametrize("text", ["Gerald doubled. He smells like bread.", "gerald rules 🍞"])
def test_a_cut_reply_that_ended_a_sentence_keeps_it(text: str) -> None:
    review = CHECK.review(text, cut=True)
    assert review.clean and review.text == text


def test_an_unmarked_end_is_finished_when_the_model_ended_it() -> None:
    assert CHECK.review("gerald is the best starter in the whole wor").clean


class _CutRewriter(ScriptedRewriter):
    """Streams its reply, then says the token cap stopped it, as the OpenAI adapter does."""

    async def stream(self, request: FusionRequest) -> AsyncGenerator[str, None]:
        async for piece in super().stream(request):
            yield piece
        raise ReplyCut("the reply reached its 8-token cap")


@pytest.mark.parametrize("mode", ["pipelined", "sequential"])
async def test_a_turn_cut_at_the_cap_sends_and_says_only_finished_sentences(mode: str) -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    turn = make_turn("", sink=sink, speaker=speaker, mode=mode)
    turn.parts.rewriter = _CutRewriter("Gerald doubled overnight. He smells like a bak")
    trace = await turn.run()
    assert trace.outcome == "answered", trace.reason
    assert trace.quality is Quality.REPAIRED and trace.flaws == [Flaw.CUT]
    assert sink.sent == [("Gerald doubled overnight.", "m1")]
    assert speaker.said == ["Gerald doubled overnight."]


async def test_a_turn_cut_inside_its_first_sentence_falls_back() -> None:
    sink, speaker = RecordingSink(), RecordingSpeaker()
    turn = make_turn("", sink=sink, speaker=speaker)
    turn.parts.rewriter = _CutRewriter("gerald is the best starter in the whole wor")
    trace = await turn.run()
    assert trace.quality is Quality.FALLBACK and trace.flaws == [Flaw.CUT]
    assert sink.sent == [(SIM[0].text, "m1")]
    assert "wor" not in " ".join(speaker.said).split()


@pytest.mark.parametrize(
    ("text", "kept", "flaws"),
    [
        # SmolLM2 with the sectioned prompt, in bench/replies
        ("**Summary:** A fanboy's cat.", "A fanboy's cat.", (Flaw.PROMPT_ECHO,)),
        ("__Answer__: gerald rules", "gerald rules", (Flaw.PROMPT_ECHO,)),
        ("**mossbyte:** gerald rules", "gerald rules", (Flaw.LABEL,)),
        ("gerald rules\n**ana:** who is gerald", "gerald rules", (Flaw.LABEL,)),
    ],
)
def test_a_bold_heading_goes_and_a_bold_name_is_a_label(
    text: str, kept: str, flaws: tuple[Flaw, ...]
) -> None:
    review = CHECK.review(text)
    assert review.flaws == flaws
    assert review.text == kept


def test_a_phrase_with_a_contraction_said_three_times_is_a_runaway() -> None:
    # SmolLM2 in a real replay (tests/integration/test_real_twin.py), sent before this check
    found = runaway("(I'm sorry, but I'm sorry, and no, I'm sorry, and no")
    assert found.flaw is Flaw.RUNAWAY
    assert found.text.count("sorry") == 1


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # SmolLM2 at the desk copied the compact template's short labels and an aside
        (
            "Do not repeat: I'm up against it tonight. I'm up against it TUESDAY.",
            "I'm up against it TUESDAY.",
        ),
        ("- (no mention of twin's line) gerald is fine", "gerald is fine"),
        ("What you know is true: gerald is fine. same as always", "same as always"),
        ("gerald is fine (no reply)", "gerald is fine"),
    ],
)
def test_a_templates_short_labels_and_asides_about_the_line_are_the_prompts(
    text: str, kept: str
) -> None:
    found = prompt_echo(text)
    assert found.flaw is Flaw.PROMPT_ECHO, text
    assert found.text == kept


@pytest.mark.parametrize(
    "text",
    [
        "do not repeat that joke please",
        "no mention of gerald today lol",
        "(no spoilers) the ending is wild",
        "true story: gerald ate the loaf",
    ],
)
def test_chat_that_only_looks_like_a_label_stays(text: str) -> None:
    assert prompt_echo(text).flaw is not Flaw.PROMPT_ECHO, text
