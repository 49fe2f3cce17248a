"""Cloned voices from HTTP TTS servers into WAV files, played as usual.

Two ways of asking, one speaker each:
- `HttpSpeaker`, ElevenLabs-style: POST {url}{path}, path by default
  /v1/text-to-speech/{voice_id}, JSON body {"text": ..., "voice_id": ...}, headers
  `Accept: audio/wav` and `{key_header}: KEY` (default xi-api-key), any `params` as the query
  string (ElevenLabs: output_format=wav_22050).
- `OpenAiSpeaker`, the OpenAI-style `/v1/audio/speech` that local cloned-voice servers offer
  (XTTS, GPT-SoVITS and Kokoro front-ends, and OpenAI itself): JSON body {"model", "input",
  "voice", "response_format": "wav"}, the key as `Authorization: Bearer KEY`.
The reply is read as it streams in and must be a whole WAV file: raw PCM is refused, since only
a WAV header says its rate. A streamed WAV whose header could not know its length (sizes 0 or
0xFFFFFFFF, as servers that stream write it) gets the real sizes once the last byte is in.
"""

from __future__ import annotations

import asyncio
import struct
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import SecretStr

from cohost.adapters.speech import Output, WavInfo, WavSpeaker, wav_info
from cohost.core.errors import SpeakerUnavailable
from cohost.core.net import address, masked
from cohost.core.ports import Bus, Clock

DEFAULT_PATH = "/v1/text-to-speech/{voice_id}"
MAX_AUDIO_BYTES = 64 * 1024 * 1024  # ~12 min of 44.1 kHz 16-bit stereo: far past any sentence
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def complete_wav_header(audio: bytes) -> bytes:
    """A streamed WAV with the RIFF and data sizes its header could not know filled in.

    Anything else (a whole WAV, or bytes that are no WAV at all) comes back unchanged.
    """
    if len(audio) < 12 or audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return audio
    at = 12
    while at + 8 <= len(audio):
        chunk, size = audio[at : at + 4], struct.unpack_from("<I", audio, at + 4)[0]
        body = at + 8
        if chunk == b"data":
            if size in _UNKNOWN_SIZES or body + size > len(audio):
                size = len(audio) - body
                fixed = bytearray(audio)
                struct.pack_into("<I", fixed, at + 4, size)
                struct.pack_into("<I", fixed, 4, len(audio) - 8)
                return bytes(fixed)
            return audio
        at = body + size + (size & 1)  # chunks are padded to an even length
    return audio


def _store_wav(audio: bytes, path: Path) -> WavInfo:
    """Write the audio to path and read its header back; ValueError (and no file) if not a WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(complete_wav_header(audio))
    try:
        return wav_info(path)
    except ValueError:
        path.unlink(missing_ok=True)
        raise


class _PostedVoice(WavSpeaker):
    """A Speaker that POSTs each sentence to a TTS server and plays the WAV it answers."""

    def __init__(
        self,
        clock: Clock,
        *,
        endpoint: str,
        api_key: SecretStr | None,
        timeout_s: float,
        output: Output,
        wav_dir: Path | None,
        keep_wavs: int,
        bus: Bus | None,
        realtime: bool,
    ) -> None:
        super().__init__(
            clock, output=output, wav_dir=wav_dir, keep_wavs=keep_wavs, bus=bus, realtime=realtime
        )
        self._endpoint = endpoint
        self._shown = address(endpoint)  # for messages: no user, password or query
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @abstractmethod
    def _request(self, text: str) -> tuple[dict[str, object], dict[str, str]]:
        """The JSON body and the headers for one sentence."""

    def _params(self) -> Mapping[str, str]:
        return {}

    async def __aexit__(self, *exc_info: object) -> None:
        await super().__aexit__(*exc_info)
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (the next sentence opens new ones)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _redact(self, text: str) -> str:
        return masked(text, self._api_key)

    async def synthesize(self, text: str, path: Path) -> WavInfo:
        """POST the sentence and write the WAV file the server answers with."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self._timeout_s):
                audio = await self._post(self._session, text)
        except TimeoutError as exc:
            raise SpeakerUnavailable(
                f"TTS server {self._shown} gave no audio within {self._timeout_s:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            reason = self._redact(f"{type(exc).__name__}: {exc}")
            raise SpeakerUnavailable(f"TTS server {self._shown} failed: {reason}") from exc
        try:
            info = await asyncio.to_thread(_store_wav, audio, path)
        except ValueError:
            raise SpeakerUnavailable(
                f"TTS server {self._shown} answered {len(audio)} bytes that are not a WAV file"
            ) from None
        if info.frames == 0 or info.sample_rate == 0:
            raise SpeakerUnavailable(f"TTS server {self._shown} answered a WAV with no audio")
        return info

    async def _post(self, session: aiohttp.ClientSession, text: str) -> bytes:
        body, headers = self._request(text)
        async with session.post(
            self._endpoint, json=body, headers=headers, params=self._params()
        ) as response:
            if response.status >= 400:
                detail = (await response.content.read(300)).decode(errors="replace").strip()
                raise SpeakerUnavailable(
                    f"TTS server {self._shown} answered HTTP {response.status}: "
                    + self._redact(detail)
                )
            audio = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                audio += chunk
                if len(audio) > MAX_AUDIO_BYTES:
                    raise SpeakerUnavailable(f"TTS server {self._shown} answered over 64 MiB")
            return bytes(audio)


class HttpSpeaker(_PostedVoice):
    """A Speaker over an ElevenLabs-style TTS server: each sentence one POST, its WAV played."""

    def __init__(
        self,
        clock: Clock,
        *,
        url: str,
        voice_id: str,
        api_key: SecretStr | None = None,
        timeout_s: float = 15.0,
        path: str = DEFAULT_PATH,
        key_header: str = "xi-api-key",
        params: Mapping[str, str] | None = None,
        output: Output = "wav",
        wav_dir: Path | None = None,
        keep_wavs: int = 0,
        bus: Bus | None = None,
        realtime: bool = True,
    ) -> None:
        if not url:
            raise ValueError("HttpSpeaker needs the TTS server's url")
        if not voice_id:
            raise ValueError("HttpSpeaker needs a voice_id")
        super().__init__(
            clock,
            endpoint=url.rstrip("/") + path.format(voice_id=quote(voice_id, safe="")),
            api_key=api_key,
            timeout_s=timeout_s,
            output=output,
            wav_dir=wav_dir,
            keep_wavs=keep_wavs,
            bus=bus,
            realtime=realtime,
        )
        self._voice_id = voice_id
        self._key_header = key_header
        self._query = dict(params or {})

    def _params(self) -> Mapping[str, str]:
        return self._query

    def _request(self, text: str) -> tuple[dict[str, object], dict[str, str]]:
        headers = {"Accept": "audio/wav"}
        if self._api_key is not None:
            headers[self._key_header] = self._api_key.get_secret_value()
        return {"text": text, "voice_id": self._voice_id}, headers


def speech_endpoint(url: str) -> str:
    """Where an OpenAI-compatible server takes speech requests: the base URL as the models'
    settings write it (`http://host:8000/v1`) plus /audio/speech; a bare host gets /v1 too."""
    base = url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        base += "/v1"
    return base + "/audio/speech"


class OpenAiSpeaker(_PostedVoice):
    """A Speaker over the OpenAI-style `/v1/audio/speech` API: each sentence one POST."""

    def __init__(
        self,
        clock: Clock,
        *,
        url: str,
        voice: str,
        model: str = "tts-1",
        api_key: SecretStr | None = None,
        timeout_s: float = 15.0,
        output: Output = "wav",
        wav_dir: Path | None = None,
        keep_wavs: int = 0,
        bus: Bus | None = None,
        realtime: bool = True,
    ) -> None:
        if not url:
            raise ValueError("OpenAiSpeaker needs the server's url")
        if not voice:
            raise ValueError("OpenAiSpeaker needs a voice")
        super().__init__(
            clock,
            endpoint=speech_endpoint(url),
            api_key=api_key,
            timeout_s=timeout_s,
            output=output,
            wav_dir=wav_dir,
            keep_wavs=keep_wavs,
            bus=bus,
            realtime=realtime,
        )
        self._voice = voice
        self._model = model

    def _request(self, text: str) -> tuple[dict[str, object], dict[str, str]]:
        headers = {"Accept": "audio/wav"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        body: dict[str, object] = {
            "model": self._model,
            "input": text,
            "voice": self._voice,
            "response_format": "wav",
        }
        return body, headers
