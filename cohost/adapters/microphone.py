"""Microphones: ALSA capture through `arecord` (alsa-utils), and a WAV file that plays the part.

Both give 16 kHz mono 16-bit PCM in 30 ms frames (`cohost.core.ports.SAMPLE_RATE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncGenerator
from pathlib import Path

from cohost.core.errors import Transient
from cohost.core.ports import SAMPLE_RATE

FRAME_BYTES = int(SAMPLE_RATE * 0.03) * 2


class MicrophoneUnavailable(Transient):
    """The capture device could not be opened or stopped giving audio."""


def resample(pcm: bytes, rate: int, channels: int) -> bytes:
    """16-bit PCM at any rate and channel count → SAMPLE_RATE mono (linear interpolation)."""
    import numpy as np  # noqa: PLC0415

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and len(samples):
        count = round(len(samples) * SAMPLE_RATE / rate)
        positions = np.linspace(0, len(samples) - 1, count)
        samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
    return bytes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())


class WavFileMicrophone:
    """A WAV file as a microphone (tests, benchmarks): its audio, then `tail_s` of silence.

    `realtime` paces the frames as a sound card would; otherwise they come as fast as read.
    """

    def __init__(self, path: Path, *, tail_s: float = 1.0, realtime: bool = False) -> None:
        self.path = path
        self.tail_s = tail_s
        self.realtime = realtime

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self._frames()

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        try:
            with wave.open(str(self.path), "rb") as wav:
                if wav.getsampwidth() != 2:
                    raise MicrophoneUnavailable(f"{self.path}: 16-bit WAV only")
                pcm = resample(
                    wav.readframes(wav.getnframes()), wav.getframerate(), wav.getnchannels()
                )
        except (OSError, EOFError, wave.Error) as exc:
            raise MicrophoneUnavailable(f"{self.path}: {exc}") from None
        pcm += bytes(int(self.tail_s * SAMPLE_RATE) * 2)
        for at in range(0, len(pcm), FRAME_BYTES):
            if self.realtime:
                await asyncio.sleep(FRAME_BYTES / 2 / SAMPLE_RATE)
            else:
                await asyncio.sleep(0)
            yield pcm[at : at + FRAME_BYTES]


class ArecordMicrophone:
    """ALSA capture: `arecord` writing raw PCM to a pipe, read in frames until closed."""

    def __init__(self, device: str = "") -> None:
        self.device = device

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
        return self._frames()

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        command = ["arecord", "-q", "-t", "raw", "-f", "S16_LE", "-r", str(SAMPLE_RATE), "-c", "1"]
        if self.device:
            command += ["-D", self.device]
        try:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            raise MicrophoneUnavailable(f"cannot start arecord: {exc}") from None
        assert process.stdout is not None
        try:
            while True:
                try:
                    frame = await process.stdout.readexactly(FRAME_BYTES)
                except asyncio.IncompleteReadError:
                    break
                yield frame
            error = b""
            if process.stderr is not None:
                error = await process.stderr.read()
            raise MicrophoneUnavailable(
                f"arecord stopped: {error.decode(errors='replace').strip() or 'no more audio'}"
            )
        finally:
            if process.returncode is None:
                process.terminate()
                with contextlib.suppress(ProcessLookupError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await process.wait()
