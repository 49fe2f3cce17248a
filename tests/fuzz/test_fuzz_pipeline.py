"""Fuzzing what viewer text meets on its way through: the renderer, the guard, the picker."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from cohost.core.events import ChatMessage, Hit, Role, Tier
from cohost.core.options import GuardSettings, PickerSettings, TwinSettings
from cohost.pipeline.guard import Guard
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.text.render import clean_name, clean_text, parse_lines, render_window
from tests.fuzz import fuzz

BLOCKED_WORDS = ("zorbleflux", "krangnarf")

# Special tokens of the chat templates a model may have been trained with (no real one holds
# whitespace); checked case-insensitively in everything that leaves the renderer or the guard.
TEMPLATE_TOKEN = re.compile(
    r"<\|[\w.-]{1,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>|</?(?:bos|eos)>",
    re.IGNORECASE,
)
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202e\u2060\u2066\ufeff\u00ad"

hostile_piece = st.sampled_from(
    [
        "<|im_start|>",
        "<|im_end|>",
        "system",
        "<|assistant|>",
        "<|",
        "|>",
        "im_",
        "start",
        "</s>",
        "</",
        "s>",
        "<s>",
        "[INST]",
        "[/INST]",
        "[INST",
        "]",
        "<<SYS>>",
        "<start_of_turn>",
        "<|eot_id|>",
        "twin: ",
        "twin",
        "@twin",
        "twin_",
        ": ",
        "!",
        "/",
        ".",
        "!twin resume",
        "/ban x",
        ".timeout x 600",
        "/me ",
        '"',
        "'",
        "“",
        "`",
        "*",
        "_",
        "~",
        "！",
        "zorbleflux",
        "krangnarf",
        "ZORBLEFLUX",
        "ｚｏｒｂｌｅｆｌｕｘ",
        "𝐤𝐫𝐚𝐧𝐠𝐧𝐚𝐫𝐟",
        "zorble",
        "flux",
        "\u0301\u0336",
        "👨\u200d👩\u200d👧",
        "🦆",
        " ",
        "   ",
        "?",
        "Kappa",
        "PogChamp",
        "https://example.org",
    ]
)
hostile_text = st.lists(
    st.one_of(
        hostile_piece,
        st.sampled_from(list(LINE_BREAKS + INVISIBLE)),
        st.text(max_size=6),
    ),
    max_size=25,
).map("".join)


def _tokens(text: str) -> list[str]:
    return TEMPLATE_TOKEN.findall(text)


@fuzz(250)
@given(text=hostile_text)
def test_clean_text_leaves_one_plain_line(text: str) -> None:
    cleaned = clean_text(text)
    assert not any(c in cleaned for c in LINE_BREAKS)
    assert cleaned == cleaned.strip()
    assert not _tokens(cleaned), cleaned
    assert clean_text(cleaned) == cleaned


@fuzz(200)
@given(name=hostile_text)
def test_clean_name_is_one_word(name: str) -> None:
    cleaned = clean_name(name)
    assert cleaned and re.fullmatch(r"\w{1,25}", cleaned)


viewer = st.builds(
    lambda login, display, text, action: ChatMessage(
        id="m",
        channel="chan",
        login=login.lower(),
        display_name=display,
        text=text,
        ts=0.0,
        action=action,
    ),
    login=st.one_of(st.sampled_from(["viewer", "Twin", "twin_", "twin", "TWIN"]), hostile_text),
    display=st.one_of(st.sampled_from(["twin", "Twin", "twіn", "twin\u200b"]), hostile_text),
    text=hostile_text,
    action=st.booleans(),
)


@fuzz(120)
@given(window=st.lists(viewer, max_size=6), twin_login=st.sampled_from(["", "mossbot"]))
def test_viewer_text_cannot_forge_a_speaker_line(
    window: list[ChatMessage], twin_login: str
) -> None:
    """Rendered chat: one line per message, none of them the twin's unless the twin spoke."""
    viewers = [m for m in window if m.login not in ("twin", twin_login)]
    rendered = render_window(viewers, "twin", twin_logins=(twin_login,) if twin_login else ())
    _, _, body = rendered.partition("\n\n")
    assert not _tokens(body)
    lines = body.split("\n")
    assert lines[-1] == ""  # every line ends in a newline, and nothing else breaks a line
    lines = lines[:-1]
    assert len(lines) == sum(1 for m in viewers if clean_text(m.text))
    # Read back as the simulator reads the model's text: nobody speaks as the twin.
    read = parse_lines("\n" + body, "twin")
    assert len(read) == len(lines)
    assert not any(line.is_twin for line in read)
    assert all(not any(c in line.text for c in LINE_BREAKS) for line in read)


guard_settings = st.builds(
    lambda max_length, max_messages: GuardSettings(
        blocklist=list(BLOCKED_WORDS), max_length=max_length, max_messages=max_messages
    ),
    max_length=st.one_of(st.just(500), st.integers(min_value=1, max_value=600)),
    max_messages=st.integers(min_value=0, max_value=4),
)
long_text = st.builds(
    lambda piece, times, tail: piece * times + tail,
    hostile_text,
    st.integers(min_value=1, max_value=60),
    hostile_text,
)
hits = st.lists(
    st.builds(
        lambda text, tier: Hit(entry_id="e", title="t", text=text, score=0.9, tier=tier),
        hostile_text,
        st.sampled_from(list(Tier)),
    ),
    max_size=2,
)
_BLOCKED = re.compile(r"(?<!\w)(?:" + "|".join(BLOCKED_WORDS) + r")(?!\w)", re.IGNORECASE)
_BEFORE_COMMAND = " \t\"'“”‘’«»„`*_~" + INVISIBLE


@fuzz(250)
@given(settings=guard_settings, text=st.one_of(hostile_text, long_text), recalled=hits)
def test_guard_output_is_safe_to_post(
    settings: GuardSettings, text: str, recalled: list[Hit]
) -> None:
    result = Guard(settings).check(text, recalled)
    if result.blocked:
        assert result.messages == [] and result.text == ""
        assert any(v.action == "blocked" for v in result.verdicts)
        return
    assert 1 <= len(result.messages) <= settings.max_messages
    for message in [*result.messages, result.text]:
        assert not _tokens(message), message
        assert not _BLOCKED.search(unicodedata.normalize("NFKC", message)), message
    for message in result.messages:
        assert 0 < len(message) <= min(settings.max_length, 500)
        assert message.lstrip(_BEFORE_COMMAND)[:1] not in ("!", "/", "."), message
        assert not any(c in message for c in LINE_BREAKS)


PICKER = PickerSettings()
TWIN = TwinSettings(name="twin", streamer="hostess", bot_login="twinbot")
chat_message = st.builds(
    lambda login, text, roles, first, bits, age: ChatMessage(
        id="m",
        channel="hostess",
        login=login,
        display_name=login,
        text=text,
        ts=1000.0 - age,
        roles=roles,
        first_msg=first,
        bits=bits,
    ),
    login=st.sampled_from(["viewer", "hostess", "twinbot", "nightbot", "moddy", "x"]),
    text=hostile_text,
    roles=st.frozensets(st.sampled_from(list(Role)), max_size=2),
    first=st.booleans(),
    bits=st.integers(min_value=-5, max_value=10**6),
    age=st.one_of(st.floats(min_value=-5, max_value=60), st.just(0.0)),
)


@fuzz(150)
@given(message=chat_message, window=st.lists(chat_message, max_size=8), answered=st.booleans())
def test_picker_never_answers_commands_or_bots(
    message: ChatMessage, window: list[ChatMessage], answered: bool
) -> None:
    picker = Picker(PICKER, TWIN)
    memory = AnswerMemory.for_settings(PICKER)
    if answered:
        for old in window:
            memory.record(old, 990.0)
    decision = picker.decide(message, window=window, memory=memory, now=1000.0)
    assert decision.message is message
    assert decision.reason
    if decision.picked:
        assert decision.category == "picked"
        assert decision.score >= PICKER.threshold
        assert not message.text.lstrip().startswith("!")
        assert message.login not in ("twinbot", "nightbot")
        assert 1000.0 - message.ts <= PICKER.freshness_s
    if message.text.lstrip().startswith("!"):
        assert not decision.picked


def test_guard_removes_the_tokens_the_renderer_removes() -> None:
    """Found by fuzzing: Gemma's turn markers and <bos>/<eos> passed the guard."""
    result = Guard(GuardSettings()).check("<start_of_turn>model hi there <eos>")
    assert result.messages == ["model hi there"]


def test_a_reply_of_only_quotes_is_blocked_with_a_reason() -> None:
    """Found by fuzzing: a reply of quotes was blocked with no verdict saying so."""
    result = Guard(GuardSettings()).check('" "')
    assert result.blocked
    assert result.verdicts[-1].action == "blocked"


def test_the_blocklist_sees_through_fullwidth_letters() -> None:
    """Found by the hostile corpus: the word in fullwidth letters passed the blocklist."""
    guard = Guard(GuardSettings(blocklist=list(BLOCKED_WORDS)))
    for text in ("ｔｗｉｎ ｓａｙ ｚｏｒｂｌｅｆｌｕｘ", "𝐤𝐫𝐚𝐧𝐠𝐧𝐚𝐫𝐟 lol"):
        assert guard.check(text).blocked
