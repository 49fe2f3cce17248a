"""A cloned voice from an HTTP TTS server (ElevenLabs-style) into WAV files, played as usual."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from cohost.adapters.speech import Output, WavInfo, WavSpeaker, wav_info
from cohost.core.errors import SpeakerUnavailable
from cohost.core.ports import Bus, Clock

# The request, per sentence: POST {url}{path}, path by default /v1/text-to-speech/{voice_id},
# JSON body {"text": ..., "voice_id": ...}, headers `Accept: audio/wav` and `{key_header}: KEY`
# (default xi-api-key), any `params` as the query string (ElevenLabs: output_format=wav_22050).
# The reply must be a whole WAV file: raw PCM is refused, since only a WAV header says its rate.
DEFAULT_PATH = "/v1/text-to-speech/{voice_id}"
MAX_AUDIO_BYTES = 64 * 1024 * 1024  # ~12 min of 44.1 kHz 16-bit stereo: far past any sentence


def _store_wav(audio: bytes, path: Path) -> WavInfo:
    """Write the audio to path and read its header back; ValueError (and no file) if not a WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(audio)
    try:
        return wav_info(path)
    except ValueError:
        path.unlink(missing_ok=True)
        raise


class HttpSpeaker(WavSpeaker):
    """A Speaker over an HTTP TTS server: each sentence one POST, its WAV reply played."""

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
            clock, output=output, wav_dir=wav_dir, keep_wavs=keep_wavs, bus=bus, realtime=realtime
        )
        self._endpoint = url.rstrip("/") + path.format(voice_id=quote(voice_id, safe=""))
        self._voice_id = voice_id
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._key_header = key_header
        self._params = dict(params or {})
        self._session: aiohttp.ClientSession | None = None

    async def __aexit__(self, *exc_info: object) -> None:
        await super().__aexit__(*exc_info)
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (the next sentence opens new ones)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _redact(self, text: str) -> str:
        """The text with the API key masked, should a server or library echo it."""
        key = self._api_key.get_secret_value() if self._api_key is not None else ""
        return text.replace(key, "***") if key else text

    async def synthesize(self, text: str, path: Path) -> WavInfo:
        """POST the sentence and write the WAV file the server answers with."""
        headers = {"Accept": "audio/wav"}
        if self._api_key is not None:
            headers[self._key_header] = self._api_key.get_secret_value()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self._timeout_s):
                audio = await self._post(self._session, text, headers)
        except TimeoutError as exc:
            raise SpeakerUnavailable(
                f"TTS server {self._endpoint} gave no audio within {self._timeout_s:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            reason = self._redact(f"{type(exc).__name__}: {exc}")
            raise SpeakerUnavailable(f"TTS server {self._endpoint} failed: {reason}") from exc
        try:
            info = await asyncio.to_thread(_store_wav, audio, path)
        except ValueError:
            raise SpeakerUnavailable(
                f"TTS server {self._endpoint} answered {len(audio)} bytes that are not a WAV file"
            ) from None
        if info.frames == 0 or info.sample_rate == 0:
            raise SpeakerUnavailable(f"TTS server {self._endpoint} answered a WAV with no audio")
        return info

    async def _post(
        self, session: aiohttp.ClientSession, text: str, headers: dict[str, str]
    ) -> bytes:
        async with session.post(
            self._endpoint,
            json={"text": text, "voice_id": self._voice_id},
            headers=headers,
            params=self._params,
        ) as response:
            if response.status >= 400:
                detail = (await response.content.read(300)).decode(errors="replace").strip()
                raise SpeakerUnavailable(
                    f"TTS server {self._endpoint} answered HTTP {response.status}: "
                    + self._redact(detail)
                )
            audio = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                audio += chunk
                if len(audio) > MAX_AUDIO_BYTES:
                    raise SpeakerUnavailable(f"TTS server {self._endpoint} answered over 64 MiB")
            return bytes(audio)
