"""`dataset build LOG --transcript T`: what the streamer said becomes the twin's lines.

The transcript is made by `cohost transcribe` from an espeak-ng recording of the streamer's
sentences, and the chat log (raw IRC) has viewers writing before, between and after them.
"""

from __future__ import annotations

import json
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cohost.cli.main import main
from cohost.core.errors import InputError
from cohost.core.events import ChatMessage
from cohost.dataset.spoken import SpokenLine, interleave, parse_start, read_transcript
from cohost.text.wer import word_error_rate
from tests.app.test_listen import SENTENCES, recording, require_whisper
from tests.support.rule_log import T0, privmsg

TWIN = "moss"


def _examples(out: Path) -> list[str]:
    return [json.loads(line)["text"] for line in out.read_text().splitlines()]


def _build(log: Path, out: Path, *extra: str) -> int:
    return main(
        ["dataset", "build", str(log), "--twin", TWIN, "--name", "Moss", "--out", str(out), *extra]
    )


def _after_a_silence(path: Path, seconds: float) -> Path:
    """The recording with `seconds` of silence before it (the stream starts, then talk)."""
    with wave.open(str(path), "rb") as wav:
        params, frames = wav.getparams(), wav.readframes(wav.getnframes())
    out = path.with_name("stream.wav")
    with wave.open(str(out), "wb") as stream:
        stream.setparams(params)
        stream.writeframes(bytes(int(seconds * params.framerate) * params.sampwidth) + frames)
    return out


def test_spoken_lines_end_the_examples_among_the_chat_by_time(tmp_path: Path) -> None:
    require_whisper()
    vod = _after_a_silence(recording(SENTENCES, tmp_path, pause_s=3.0), 2.0)
    transcript = tmp_path / "transcript.jsonl"
    assert main(["transcribe", str(vod), "--out", str(transcript)]) == 0
    spoken = read_transcript(transcript)
    assert len(spoken) == len(SENTENCES)  # one line a sentence, the pauses between them
    # the chat of the same stream: a viewer before each sentence, one more after the last
    seconds = [0, *(round(s.end) + 1 for s in spoken)]
    asks = ["what are you baking", "how long in the oven", "is it ready", "good night all"]
    log = tmp_path / "chat.log"
    log.write_text(
        "\n".join(privmsg(at, f"viewer{i}", asks[i]) for i, at in enumerate(seconds)) + "\n"
    )
    out = tmp_path / "train.jsonl"
    assert _build(log, out, "--transcript", str(transcript), "--transcript-start", str(T0)) == 0
    examples = _examples(out)
    # every example ends on a spoken line, after the chat the streamer had seen
    assert len(examples) == len(SENTENCES)
    for n, (example, line) in enumerate(zip(examples, spoken, strict=True)):
        assert example.rstrip().endswith(line.text)
        for i, ask in enumerate(asks):
            assert (ask in example) == (i <= n), (n, ask, example)
    heard = " ".join(line.text for line in spoken)
    assert word_error_rate(" ".join(SENTENCES), heard) <= 0.35, heard

    # the same start written as ISO 8601; or none: the log's first line is the recording's start
    iso = datetime.fromtimestamp(T0, UTC).isoformat()
    for start in (["--transcript-start", iso], []):
        again = tmp_path / "again.jsonl"
        assert _build(log, again, "--transcript", str(transcript), *start) == 0
        assert again.read_bytes() == out.read_bytes()


def _chat_log(tmp_path: Path) -> Path:
    log = tmp_path / "chat.log"
    lines = [
        privmsg(0, "ann", "hello moss"),
        privmsg(5, TWIN, "hi ann, welcome in"),
        privmsg(9, "bob", "what are we playing"),
        privmsg(12, TWIN, "frog night, like every friday"),
    ]
    log.write_text("\n".join(lines) + "\n")
    return log


def test_an_empty_transcript_changes_nothing(tmp_path: Path) -> None:
    log = _chat_log(tmp_path)
    plain, spoken = tmp_path / "plain.jsonl", tmp_path / "spoken.jsonl"
    empty = tmp_path / "transcript.jsonl"
    empty.write_text("")
    assert _build(log, plain) == 0
    assert _build(log, spoken, "--transcript", str(empty)) == 0
    assert plain.read_bytes() == spoken.read_bytes() and _examples(plain)


def test_a_spoken_line_goes_before_chat_of_the_same_time() -> None:
    chat = [
        ChatMessage(id="a", channel="c", login="ann", display_name="ann", text="hi", ts=100.0),
        ChatMessage(id="b", channel="c", login="bob", display_name="bob", text="yo", ts=103.0),
    ]
    spoken = [SpokenLine(start=3.0, end=4.0, text="hello"), SpokenLine(start=9, end=9, text="x")]
    merged = [m for m in interleave(chat, spoken, login="Moss") if isinstance(m, ChatMessage)]
    assert [(m.login, m.ts) for m in merged] == [
        ("ann", 100.0),
        ("moss", 103.0),
        ("bob", 103.0),
        ("moss", 109.0),  # after the last chat: still there
    ]
    assert all(m.spoken for m in merged if m.login == "moss")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"start": 1, "end": 2}', "line 2: `text` must be a string"),
        ('{"start": "1", "end": 2, "text": "x"}', "line 2: `start` must be a number"),
        ('{"start": 3, "end": 2, "text": "x"}', "line 2: `end` is before `start`"),
        ("[1, 2]", "line 2: not a JSON object"),
        ('{"start": 1, "end"', "line 2: not JSON"),
    ],
)
def test_a_bad_transcript_line_is_named(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"start": 0, "end": 1, "text": "fine"}\n' + line + "\n")
    with pytest.raises(InputError, match=says) as caught:
        read_transcript(path)
    assert str(path) in caught.value.located()


def test_bad_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _chat_log(tmp_path)
    transcript = tmp_path / "t.jsonl"
    transcript.write_text('{"start": 0, "end": 1, "text": "fine"}\n')
    out = tmp_path / "out.jsonl"
    assert _build(log, out, "--transcript", str(transcript), "--transcript-start", "soon") != 0
    assert "--transcript-start: 'soon' is neither ISO 8601" in capsys.readouterr().err
    two = ["dataset", "build", str(log), str(log), "--twin", TWIN, "--out", str(out)]
    assert main([*two, "--transcript", str(transcript)]) != 0
    assert "one chat log" in capsys.readouterr().err
    assert _build(log, out, "--transcript-start", "0") != 0
    assert "needs --transcript" in capsys.readouterr().err
    assert parse_start("2023-11-14T22:13:20Z") == parse_start("2023-11-14T22:13:20") == T0
