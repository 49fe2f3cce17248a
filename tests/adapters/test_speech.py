"""The espeak-ng speaker against the real engine: real WAV files, real playback timing, skips."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import wave
from pathlib import Path

import pytest

from cohost.adapters.speech import (
    DEVICE_RETRY_S,
    EspeakSpeaker,
    has_sound_card,
    wav_info,
)
from cohost.app.build import speaker_from_settings
from cohost.app.settings import Settings
from cohost.cli.main import main
from cohost.core.clock import RealClock
from cohost.core.errors import SettingsError, SpeakerUnavailable
from cohost.core.options import SpeechSettings
from cohost.embedded.bus import LocalBus
from cohost.pipeline.deliver import CaptionSpeaker
from tests.support.audio import fake_aplay, on_path, require_espeak

SHORT = "Hello chat."
LONG = (
    "Thanks for the raid, everyone. Tonight we are going to finish the castle level, "
    "then try the speedrun route that chat kept asking about all week long, and if "
    "there is time left we will read the best fan mail of the month together."
)


@pytest.fixture(autouse=True)
def _espeak() -> None:
    require_espeak()


def _speaker(tmp_path: Path, bus: LocalBus | None = None, **kwargs: object) -> EspeakSpeaker:
    return EspeakSpeaker(RealClock(), wav_dir=tmp_path / "wav", bus=bus, **kwargs)  # type: ignore[arg-type]


async def test_synthesis_writes_a_mono_16_bit_wav(tmp_path: Path) -> None:
    speaker = _speaker(tmp_path)
    path = tmp_path / "one.wav"
    info = await speaker.synthesize(SHORT, path)
    with wave.open(str(path), "rb") as wav:
        assert wav.getframerate() == 22050
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        frames = wav.getnframes()
    assert info == wav_info(path)
    assert info.frames == frames
    assert 0.3 < info.seconds < 5.0
    speaker.close()


@pytest.mark.parametrize("use_pyttsx3", [True, False], ids=["pyttsx3", "espeak-ng-command"])
async def test_longer_text_gives_longer_audio(tmp_path: Path, use_pyttsx3: bool) -> None:
    speaker = _speaker(tmp_path, use_pyttsx3=use_pyttsx3)
    short = await speaker.synthesize(SHORT, tmp_path / "short.wav")
    long = await speaker.synthesize(LONG, tmp_path / "long.wav")
    assert long.seconds > 4 * short.seconds
    assert long.sample_rate == short.sample_rate == 22050
    assert speaker.fallbacks == (0 if use_pyttsx3 else 2)
    speaker.close()


async def test_slower_rate_gives_longer_audio(tmp_path: Path) -> None:
    # the espeak-ng command: pyttsx3 2.99 sometimes ignores a rate changed between two saves
    fast = await _speaker(tmp_path, rate=260, use_pyttsx3=False).synthesize(
        LONG, tmp_path / "f.wav"
    )
    slow = await _speaker(tmp_path, rate=120, use_pyttsx3=False).synthesize(
        LONG, tmp_path / "s.wav"
    )
    assert slow.seconds > 1.5 * fast.seconds


async def test_say_writes_numbered_files_and_honest_captions(tmp_path: Path) -> None:
    bus = LocalBus()
    events: list[tuple[str, dict[str, object]]] = []
    bus.subscribe(lambda topic, payload: events.append((topic, payload)))
    speaker = _speaker(tmp_path, bus, realtime=False)
    await speaker.say(SHORT, turn_id="t1")
    await speaker.say(LONG, turn_id="t1")
    await speaker.say(SHORT, turn_id="t2")
    names = sorted(p.name for p in (tmp_path / "wav").iterdir())
    assert names == ["cohost-t1-1.wav", "cohost-t1-2.wav", "cohost-t2-1.wav"]
    captions = [payload for topic, payload in events if topic == "caption"]
    assert [c["text"] for c in captions] == [SHORT, LONG, SHORT]
    for caption, name in zip(
        captions, ["cohost-t1-1.wav", "cohost-t1-2.wav", "cohost-t2-1.wav"], strict=True
    ):
        seconds = wav_info(tmp_path / "wav" / name).seconds
        assert caption["end"] - caption["start"] == pytest.approx(seconds)  # type: ignore[operator]
    assert all(u.finished and not u.interrupted for u in speaker.recent)


async def _start_long(speaker: EspeakSpeaker, bus: LocalBus) -> tuple[asyncio.Task[None], float]:
    """Start a long sentence in real time; return once its caption is out (it is playing)."""
    playing = asyncio.Event()
    bus.subscribe(lambda topic, payload: playing.set() if topic == "caption" else None)
    task = asyncio.create_task(speaker.say(LONG, turn_id="long"))
    await asyncio.wait_for(playing.wait(), 10)
    return task, speaker.recent[-1].seconds


async def test_stop_cuts_a_long_sentence(tmp_path: Path) -> None:
    bus = LocalBus()
    cuts: list[dict[str, object]] = []
    bus.subscribe(lambda topic, payload: cuts.append(payload) if topic == "caption/cut" else None)
    speaker = _speaker(tmp_path, bus)
    task, seconds = await _start_long(speaker, bus)
    assert seconds > 5
    began = time.perf_counter()
    await speaker.stop()
    await asyncio.wait_for(task, seconds)  # returns, without raising, long before the audio ends
    print(f"stop latency {1000 * (time.perf_counter() - began):.1f} ms of {seconds:.1f} s audio")
    utterance = speaker.recent[-1]
    assert utterance.interrupted and not utterance.finished
    assert [c["turn_id"] for c in cuts] == ["long"]
    # the next sentence is spoken again
    await _speaker_say_short(speaker)


async def test_stop_also_drops_a_sentence_waiting_for_the_voice(tmp_path: Path) -> None:
    # `voice off` while another sentence waits for the voice: that one must not start after
    bus = LocalBus()
    speaker = _speaker(tmp_path, bus)
    task, seconds = await _start_long(speaker, bus)
    waiting = asyncio.create_task(speaker.say(SHORT, turn_id="waiting"))
    await asyncio.sleep(0.05)  # it is queued behind the long one
    await speaker.stop()
    await asyncio.wait_for(asyncio.gather(task, waiting), seconds)
    assert [u.turn_id for u in speaker.recent] == ["long"]
    await _speaker_say_short(speaker)  # a later sentence speaks again


async def _speaker_say_short(speaker: EspeakSpeaker) -> None:
    await speaker.say(SHORT, turn_id="after")
    assert speaker.recent[-1].finished


async def test_cancelling_say_cuts_a_long_sentence(tmp_path: Path) -> None:
    bus = LocalBus()
    speaker = _speaker(tmp_path, bus)
    task, seconds = await _start_long(speaker, bus)
    began = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, seconds)
    print(f"cancel latency {1000 * (time.perf_counter() - began):.1f} ms of {seconds:.1f} s audio")
    assert task.cancelled()
    assert speaker.recent[-1].interrupted


async def test_device_without_a_sound_card_is_a_transient_error(tmp_path: Path) -> None:
    if shutil.which("aplay") is None:
        pytest.skip("aplay is not installed (alsa-utils)")
    if _has_sound_card():
        pytest.skip("this machine has a sound card; the failure path cannot be shown")
    speaker = EspeakSpeaker(RealClock(), output="device")
    with pytest.raises(SpeakerUnavailable, match="aplay failed"):
        await speaker.say(SHORT, turn_id="t")
    speaker.close()


def _has_sound_card() -> bool:
    cards = Path("/proc/asound/cards")
    return cards.is_file() and "no soundcards" not in cards.read_text()


def test_wav_info_refuses_what_is_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "not.wav"
    path.write_text("RIFF? no")
    with pytest.raises(ValueError, match="not a readable WAV"):
        wav_info(path)


def test_cli_say_writes_a_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "hello.wav"
    assert main(["say", LONG, "--out", str(out)]) == 0
    info = wav_info(out)
    assert info.sample_rate == 22050 and info.seconds > 5
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("a-file/x.wav", "a-file: File exists"),
        ("x.mp3", "name a .wav file"),
        ("", "nothing to say"),
    ],
)
def test_cli_say_refuses_what_it_cannot_do_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, says: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    text = "" if not out else "hello"
    argv = ["say", text, "--out", str(tmp_path / (out or "x.wav"))]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_sound_card_reads_aplay_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aplay(tmp_path / "card", card=True)
    on_path(monkeypatch, tmp_path / "card")
    assert has_sound_card()
    fake_aplay(tmp_path / "none", card=False)
    on_path(monkeypatch, tmp_path / "none")
    assert not has_sound_card()
    on_path(monkeypatch, tmp_path / "empty", keep_system=False)
    assert not has_sound_card()  # no aplay at all


async def test_auto_output_plays_on_a_listed_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    played = fake_aplay(tmp_path / "bin", card=True)
    on_path(monkeypatch, tmp_path / "bin")
    async with _speaker(tmp_path, output="auto") as speaker:
        assert speaker.output == "device"
        await speaker.say(SHORT, turn_id="t")
    assert len(played.read_text().splitlines()) == 1
    assert not (tmp_path / "wav").exists() or not list((tmp_path / "wav").iterdir())
    assert speaker.recent[-1].finished


class _SteppedClock(RealClock):
    """Real time, except `monotonic`, which moves only when the test says."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t


async def test_auto_output_writes_wav_files_while_the_card_fails_then_tries_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bin_dir = tmp_path / "bin"
    played = fake_aplay(bin_dir, card=True, play_exit=1)
    on_path(monkeypatch, bin_dir)
    clock = _SteppedClock()
    caplog.set_level(logging.INFO, logger="cohost.adapters.speech")
    speaker = EspeakSpeaker(clock, output="auto", wav_dir=tmp_path / "wav", realtime=False)
    async with speaker:
        assert (speaker.output, speaker.link) == ("device", "up")
        await speaker.say(SHORT, turn_id="t")  # fails to play: no error reaches the turn
        assert (speaker.output, speaker.link) == ("wav", "down")
        clock.t += DEVICE_RETRY_S - 1
        await speaker.say("A second one.", turn_id="t")  # to a file, the card left alone
        assert len(played.read_text().splitlines()) == 1
        assert [p.name for p in (tmp_path / "wav").iterdir()] == ["cohost-t-2.wav"]
        clock.t += 1
        await speaker.say("A third one.", turn_id="t")  # the card again: still failing
        assert len(played.read_text().splitlines()) == 2
        assert speaker.output == "wav"
        fake_aplay(bin_dir, card=True, play_exit=0)  # the card is back
        clock.t += DEVICE_RETRY_S
        await speaker.say("A fourth one.", turn_id="t")
        assert (speaker.output, speaker.link) == ("device", "up")
    assert len(played.read_text().splitlines()) == 3
    messages = [r.getMessage() for r in caplog.records]
    failed = [m for m in messages if "playing audio failed" in m]
    assert len(failed) == 1 and "Device or resource busy" in failed[0]  # once a failing streak
    assert "playing on the sound card again" in messages


async def test_auto_output_without_a_card_writes_wav_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    played = fake_aplay(tmp_path / "bin", card=False)
    on_path(monkeypatch, tmp_path / "bin")
    async with _speaker(tmp_path, output="auto", realtime=False) as speaker:
        assert speaker.output == "wav"
        await speaker.say(SHORT, turn_id="t")
    assert not played.exists()
    assert wav_info(tmp_path / "wav" / "cohost-t-1.wav").seconds > 0


async def test_keep_wavs_keeps_only_the_newest_of_its_own_files(tmp_path: Path) -> None:
    wav_dir = tmp_path / "wav"
    wav_dir.mkdir()
    for i in range(3):  # cohost's files from earlier runs, oldest first
        old = wav_dir / f"cohost-old-{i}.wav"
        old.write_bytes(b"")
        os.utime(old, ns=(1_000_000_000 * (i + 1),) * 2)
    (wav_dir / "notes.txt").write_text("not a wav: never touched")
    (wav_dir / "take-1.wav").write_bytes(b"")  # somebody else's recording: never touched
    os.utime(wav_dir / "take-1.wav", ns=(1, 1))
    async with _speaker(tmp_path, keep_wavs=2, realtime=False) as speaker:
        kept = sorted(p.name for p in wav_dir.glob("cohost-*.wav"))
        assert kept == ["cohost-old-1.wav", "cohost-old-2.wav"]
        for n in range(3):
            await speaker.say(f"Sentence number {n}.", turn_id="t")
    assert sorted(p.name for p in wav_dir.iterdir()) == [
        "cohost-t-2.wav",
        "cohost-t-3.wav",
        "notes.txt",
        "take-1.wav",
    ]


async def test_keep_wavs_zero_keeps_everything(tmp_path: Path) -> None:
    async with _speaker(tmp_path, keep_wavs=0, realtime=False) as speaker:
        for n in range(3):
            await speaker.say(f"Sentence number {n}.", turn_id="t")
    assert len(list((tmp_path / "wav").glob("*.wav"))) == 3


def test_the_default_voice_is_espeak_into_wavs_without_a_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aplay(tmp_path / "bin", card=False)
    on_path(monkeypatch, tmp_path / "bin")
    speaker = speaker_from_settings(Settings(data_dir=tmp_path), RealClock())
    assert isinstance(speaker, EspeakSpeaker)
    assert speaker.output == "wav"


def test_a_missing_espeak_degrades_the_default_and_fails_a_chosen_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    on_path(monkeypatch, tmp_path / "empty", keep_system=False)  # no espeak-ng, no aplay
    speaker = speaker_from_settings(Settings(data_dir=tmp_path), RealClock())
    assert isinstance(speaker, CaptionSpeaker)
    assert any("espeak-ng is not installed" in r.getMessage() for r in caplog.records)
    chosen = Settings(data_dir=tmp_path, speech=SpeechSettings(engine="espeak"))
    with pytest.raises(SettingsError, match="COHOST_SPEECH__ENGINE=espeak needs espeak-ng"):
        speaker_from_settings(chosen, RealClock())


def test_cli_say_uses_the_configured_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COHOST_SPEECH__OUTPUT", "wav")
    assert main(["say", SHORT]) == 0
    said = tmp_path / "data" / "speech" / "cohost-say-1.wav"
    assert f"espeak: {wav_info(said).seconds:.2f} s, written to {said}" in capsys.readouterr().out
    monkeypatch.setenv("COHOST_SPEECH__ENGINE", "captions")
    assert main(["say", SHORT]) == 1
    assert "captions only" in capsys.readouterr().err


async def test_a_voice_that_cannot_write_its_audio_is_a_speaker_error(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the WAV folder should be")
    speaker = EspeakSpeaker(RealClock(), wav_dir=blocked / "wav", realtime=False)
    with pytest.raises(SpeakerUnavailable, match="cannot write audio"):
        await speaker.say(SHORT, turn_id="t")


async def test_a_file_name_used_again_is_not_pruned_as_an_old_one(tmp_path: Path) -> None:
    # each `!twin say` is written as cohost-say-1.wav: the newest of them must stay
    async with _speaker(tmp_path, keep_wavs=2, realtime=False) as speaker:
        await speaker.say("First say.", turn_id="say")
        await speaker.say("A turn's line.", turn_id="t")
        speaker._numbers.clear()  # as after many turns: numbering starts again
        await speaker.say("Second say.", turn_id="say")
        await speaker.say("Another line.", turn_id="u")
    names = sorted(p.name for p in (tmp_path / "wav").iterdir())
    assert names == ["cohost-say-1.wav", "cohost-u-1.wav"]
