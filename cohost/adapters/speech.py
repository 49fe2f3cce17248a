"""The voice: pyttsx3 (espeak-ng) into WAV files or through `aplay`, with captions on the bus."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import itertools
import logging
import os
import shutil
import subprocess
import tempfile
import wave
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Self

from cohost.core.bus_events import CaptionCut, CaptionShown
from cohost.core.errors import SpeakerUnavailable
from cohost.core.events import Caption
from cohost.core.ports import Bus, Clock
from cohost.core.serialise import emit

log = logging.getLogger(__name__)

# Synthesising one sentence takes ~10 ms; far longer means the engine hangs (seen with pyttsx3).
SYNTH_TIMEOUT_S = 10.0
# What each sentence's WAV file is named with, so that pruning knows cohost's own files.
WAV_PREFIX = "cohost-"
# Output auto, after playback failed: sentences go to WAV files this long, then the card again.
DEVICE_RETRY_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WavInfo:
    """What a WAV file holds."""

    sample_rate: int
    frames: int
    channels: int
    sample_width: int  # bytes per sample

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def wav_info(path: Path) -> WavInfo:
    """The sample rate, length and format of a WAV file; ValueError when it is not one."""
    try:
        with wave.open(str(path), "rb") as wav:
            return WavInfo(
                sample_rate=wav.getframerate(),
                frames=wav.getnframes(),
                channels=wav.getnchannels(),
                sample_width=wav.getsampwidth(),
            )
    except (wave.Error, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a readable WAV file: {exc}") from exc


def _usable(path: Path) -> WavInfo | None:
    """The WAV's info when it holds some audio, else None."""
    try:
        info = wav_info(path)
    except ValueError:
        return None
    return info if info.frames > 0 and info.sample_rate > 0 else None


def has_sound_card() -> bool:
    """Whether ALSA lists a sound card to play on (`aplay -l`); False without aplay."""
    if shutil.which("aplay") is None:
        return False
    try:
        listing = subprocess.run(
            ["aplay", "-l"], capture_output=True, text=True, timeout=5.0, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    # "card 0: PCH [HDA Intel PCH], device 0: ..."; none: "no soundcards found" on stderr
    return any(line.startswith("card ") for line in listing.splitlines())


# pyttsx3 is not safe for concurrent use, and pyttsx3.init() hands every caller in the process the
# same engine: so one worker thread per process, shared by every speaker, makes all the calls.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
_engine: Any = None


@atexit.register
def _release_engine() -> None:
    """Drop the engine while the interpreter is still whole.

    pyttsx3's finaliser needs modules that are gone at interpreter teardown and prints an
    ignored AttributeError there; released here, it runs cleanly.
    """
    global _engine  # noqa: PLW0603
    if _engine is not None:
        _engine = None
        gc.collect()  # the engine and its driver proxy refer to each other


def _pyttsx3_save(text: str, path: Path, rate: int, voice: str) -> None:
    """Synthesise into a WAV file through pyttsx3; runs on _WORKER only."""
    global _engine  # noqa: PLW0603 (owned by the worker thread alone)
    if _engine is None:
        import pyttsx3  # noqa: PLC0415 (only when the voice is used)

        _engine = pyttsx3.init("espeak")
    # set every time, in the same run as the save: a run holding only a property change is lost
    _engine.setProperty("rate", rate)
    if voice:
        _engine.setProperty("voice", voice)
    path.unlink(missing_ok=True)
    # pyttsx3 prints "Audio saved to …" for every file; the daemon's stdout is not its to use
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # noqa: PTH123
        _engine.save_to_file(text, str(path))
        _engine.runAndWait()


@dataclass(slots=True, kw_only=True)
class Utterance:
    """One sentence spoken (or being spoken): where its audio is and whether it was cut short."""

    turn_id: str
    text: str
    path: Path
    seconds: float
    interrupted: bool = False
    finished: bool = False


Output = Literal["auto", "wav", "device"]


class WavSpeaker(ABC):
    """A Speaker that plays the WAV file each sentence is synthesised into; stop() cuts it short.

    Output `device` plays each file with aplay; `wav` keeps the files in `wav_dir` (the newest
    `keep_wavs` of its own; 0 keeps all) and waits each one's length, as playing would; `auto`
    is `device` when ALSA lists a sound card and `wav` otherwise. When playback fails under `auto`
    (a busy or unplugged card), sentences go to files for `DEVICE_RETRY_S`, then the card is
    tried again: one hiccup must not silence the twin for the rest of the stream.

    `clips`, when given, is handed each sentence's WAV bytes as it starts and returns where
    the overlay fetches them (`cohost.web.audio.AudioClips.keep_wav`); the caption carries
    that path, and a browser source plays the voice on whatever machine runs OBS.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        output: Output = "wav",
        wav_dir: Path | None = None,
        keep_wavs: int = 0,
        bus: Bus | None = None,
        realtime: bool = True,
        clips: Callable[[bytes], str] | None = None,
    ) -> None:
        if output in ("wav", "auto") and wav_dir is None:
            raise ValueError(f"output={output!r} needs a wav_dir")
        if output == "device" and shutil.which("aplay") is None:
            raise SpeakerUnavailable("aplay is not installed (Debian package alsa-utils)")
        self._clock = clock
        self._auto = output == "auto"
        self._retry_device_at: float | None = None  # auto, after a failed playback
        self._output: Literal["wav", "device"] = (
            output if output != "auto" else "device" if has_sound_card() else "wav"
        )
        self._wav_dir = wav_dir
        self._keep_wavs = keep_wavs
        self._kept: deque[Path] | None = None  # cohost's WAV files in wav_dir, oldest first
        self._bus = bus
        self._realtime = realtime
        self.clips = clips
        self._numbers: dict[str, itertools.count[int]] = {}
        self._stop = asyncio.Event()
        self._stops = 0  # how often stop() was called: a say() waiting through one never starts
        self._one_voice = asyncio.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None  # device mode's scratch files
        self.recent: deque[Utterance] = deque(maxlen=64)  # the newest utterances, for inspection

    @abstractmethod
    async def synthesize(self, text: str, path: Path) -> WavInfo:
        """Write the text as a WAV file holding some audio; SpeakerUnavailable when it cannot."""

    @property
    def output(self) -> Literal["wav", "device"]:
        """Where sentences go now: the sound card, or WAV files."""
        return self._output

    @property
    def link(self) -> str | None:
        """For /healthz: "down" while `auto` writes files because the card failed, else "up";
        None unless the output is auto."""
        if not self._auto:
            return None
        return "down" if self._retry_device_at is not None else "up"

    async def __aenter__(self) -> Self:
        if self._output == "wav" and self._keep_wavs:
            # the files kept from earlier runs count toward keep_wavs too
            await asyncio.to_thread(self._prune)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        self.close()

    def close(self) -> None:
        """Remove the scratch folder (the shared worker thread stays for the next speaker)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _next_path(self, turn_id: str) -> Path:
        n = next(self._numbers.setdefault(turn_id, itertools.count(1)))
        if (
            len(self._numbers) > 256
        ):  # forget old turns; ids are unique, so numbering restarts safely
            del self._numbers[next(iter(self._numbers))]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in turn_id) or "turn"
        if self._output == "wav" and self._wav_dir is not None:
            return self._wav_dir / f"{WAV_PREFIX}{safe}-{n}.wav"
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cohost-tts-")
        return Path(self._tmp.name) / f"{safe}-{n}.wav"

    async def say(self, sentence: str, *, turn_id: str) -> None:
        """Synthesise one sentence, then play it (or wait its length); stop() cuts it short."""
        # one voice: a turn's sentences and a `!twin say` take turns instead of talking over
        # each other (two aplay processes on one device also fail)
        stops = self._stops
        async with self._one_voice:
            if self._stops != stops:
                return  # stopped while it waited for the voice: it was never to be said
            try:
                await self._say(sentence, turn_id)
            except OSError as exc:
                # a full disk, a wav_dir that is a file: the voice fails, never the turn
                raise SpeakerUnavailable(f"the voice cannot write audio: {exc}") from exc

    def _prune(self, written: Path | None = None) -> None:
        """Delete the oldest of cohost's own WAV files in wav_dir beyond keep_wavs.

        Only files named as this speaker names them (`cohost-TURN-N.wav`): a wav_dir that holds
        other recordings too loses none of them. The folder is read once; after that each
        file `written` joins the list, and the oldest go.
        """
        if not self._keep_wavs or self._wav_dir is None:
            return
        if self._kept is None:
            stamped = []
            for path in self._wav_dir.glob(f"{WAV_PREFIX}*.wav"):
                with contextlib.suppress(OSError):  # gone meanwhile
                    stamped.append((path.stat().st_mtime_ns, path.name, path))
            self._kept = deque(path for _, _, path in sorted(stamped) if path != written)
        if written is not None:
            if written in self._kept:  # a name used again (each `!twin say` is "say-1")
                self._kept.remove(written)
            self._kept.append(written)
        while len(self._kept) > self._keep_wavs:
            self._kept.popleft().unlink(missing_ok=True)

    def _fall_back_to_wav(self, exc: SpeakerUnavailable) -> bool:
        """Whether a failed playback turns the speaker to WAV files for a while (output auto)."""
        if not self._auto:
            return False
        if self._retry_device_at is None:  # once per failing streak
            log.warning(
                "playing audio failed (%s); writing each sentence to %s, and trying the sound "
                "card again every %.0f s",
                exc,
                self._wav_dir,
                DEVICE_RETRY_S,
            )
        self._output = "wav"
        self._retry_device_at = self._clock.monotonic() + DEVICE_RETRY_S
        return True

    def _try_device_again(self) -> None:
        at = self._retry_device_at
        if at is not None and self._output == "wav" and self._clock.monotonic() >= at:
            self._output = "device"

    async def _say(self, sentence: str, turn_id: str) -> None:
        self._stop.clear()
        self._try_device_again()
        path = self._next_path(turn_id)
        info = await self.synthesize(sentence, path)
        on_device = self._output == "device"
        if not on_device and self._keep_wavs:
            await asyncio.to_thread(self._prune, path)
        utterance = Utterance(turn_id=turn_id, text=sentence, path=path, seconds=info.seconds)
        self.recent.append(utterance)
        audio = ""
        if self.clips is not None and self._bus is not None:
            audio = self.clips(await asyncio.to_thread(path.read_bytes))
        start = self._clock.now()
        caption = Caption(turn_id=turn_id, text=sentence, start=start, end=start + info.seconds)
        if self._bus is not None:
            emit(self._bus, CaptionShown(**asdict(caption), audio=audio))
        try:
            played = False
            if on_device:
                try:
                    await self._play(path)
                    played = True
                    if self._retry_device_at is not None:
                        self._retry_device_at = None
                        log.info("playing on the sound card again")
                except SpeakerUnavailable as exc:
                    if not self._fall_back_to_wav(exc):
                        raise
            if not played and self._realtime:
                await self._wait_or_stop(self._clock.sleep(info.seconds))
            utterance.finished = not self._stop.is_set()
        finally:
            if not utterance.finished:
                utterance.interrupted = True
                emit(self._bus, CaptionCut(turn_id=turn_id, at=self._clock.now()))
            if on_device:
                path.unlink(missing_ok=True)  # a scratch file

    async def _wait_or_stop(self, awaitable: Any) -> None:
        """Wait for the playback to end, or for stop(), whichever comes first."""
        playing = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((playing, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (playing, stopping):
                task.cancel()
            await asyncio.gather(playing, stopping, return_exceptions=True)

    async def _play(self, path: Path) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                "aplay",
                "-q",
                str(path),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SpeakerUnavailable(f"cannot run aplay: {exc}") from exc
        try:
            await self._wait_or_stop(proc.wait())
        finally:
            if proc.returncode is None:
                proc.kill()  # a skip or a cancel: silence now, not at the end of the buffer
                await proc.wait()
        if proc.returncode != 0 and not self._stop.is_set():
            detail = b"" if proc.stderr is None else await proc.stderr.read()
            raise SpeakerUnavailable(
                f"aplay failed (exit {proc.returncode}): {detail.decode(errors='replace').strip()}"
            )

    async def stop(self) -> None:
        """Cut the sentence being played and drop those waiting; a later say() speaks again."""
        self._stops += 1
        self._stop.set()


class EspeakSpeaker(WavSpeaker):
    """A Speaker over espeak-ng: synthesis on one worker thread, playback cut short by stop()."""

    def __init__(
        self,
        clock: Clock,
        *,
        output: Output = "wav",
        wav_dir: Path | None = None,
        keep_wavs: int = 0,
        voice: str = "",
        rate: int = 175,
        bus: Bus | None = None,
        realtime: bool = True,
        use_pyttsx3: bool = True,
    ) -> None:
        super().__init__(
            clock, output=output, wav_dir=wav_dir, keep_wavs=keep_wavs, bus=bus, realtime=realtime
        )
        self._voice = voice
        self._rate = rate
        self._pyttsx3_ok = use_pyttsx3
        self.fallbacks = 0  # sentences the espeak-ng command had to synthesise

    async def synthesize(self, text: str, path: Path) -> WavInfo:
        """Write the text as a WAV file: pyttsx3, checked and retried once, else espeak-ng."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._pyttsx3_ok:
            loop = asyncio.get_running_loop()
            for _ in range(2):  # ~1-3% of pyttsx3 runs write an empty file: one retry
                try:
                    async with asyncio.timeout(SYNTH_TIMEOUT_S):
                        await loop.run_in_executor(
                            _WORKER, _pyttsx3_save, text, path, self._rate, self._voice
                        )
                except TimeoutError:
                    # the worker thread is stuck inside the engine: never use it again
                    log.warning("pyttsx3 hung; using the espeak-ng command from now on")
                    self._pyttsx3_ok = False
                    break
                except Exception as exc:
                    log.warning("pyttsx3 failed (%s); using the espeak-ng command", exc)
                    self._pyttsx3_ok = False
                    break
                if (info := _usable(path)) is not None:
                    return info
        self.fallbacks += 1
        return await self._espeak_ng(text, path)

    async def _espeak_ng(self, text: str, path: Path) -> WavInfo:
        args = ["espeak-ng", "-s", str(self._rate), "-w", str(path)]
        if self._voice:
            args += ["-v", self._voice]
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                "--",
                text,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise SpeakerUnavailable("espeak-ng is not installed") from exc
        try:
            async with asyncio.timeout(SYNTH_TIMEOUT_S):
                _, err = await proc.communicate()
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise SpeakerUnavailable("espeak-ng did not finish") from exc
        info = _usable(path)
        if proc.returncode != 0 or info is None:
            detail = err.decode(errors="replace").strip()
            raise SpeakerUnavailable(f"espeak-ng wrote no audio (exit {proc.returncode}) {detail}")
        return info
