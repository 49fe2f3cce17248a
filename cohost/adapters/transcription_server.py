"""Speech to text on a server: any OpenAI-compatible `POST /v1/audio/transcriptions`.

OpenAI's own API, faster-whisper-server (speaches), LocalAI, vLLM and others answer it. One
utterance (or file) is one multipart upload: `file` (a WAV; a file of any format as it is),
`model`, `response_format` (`verbose_json`: segments with their times; `json`: the text only,
taken as one segment over the whole audio), `language`, and `prompt` (the twin's names, so the
model spells them right: the server's counterpart of faster-whisper's hotwords). Blocking, like
every `Transcriber`: callers run it off the event loop.

A server that is down, slow, refuses the request or answers something else raises
`TranscriberUnavailable` (Transient): the listener loses that utterance alone, logs and counts
it, and goes on. The API key is sent as a bearer token and never appears in an error.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from cohost.adapters.whisper import TranscriberUnavailable
from cohost.core.net import address, masked
from cohost.core.ports import SAMPLE_RATE, Segment

ResponseFormat = Literal["verbose_json", "json"]
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a transcript, even of hours, is far smaller


def pcm_wav(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM wrapped in a WAV header."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def _wav_from(path: Path, start_s: float) -> bytes:
    """A WAV file from `start_s` on, as a WAV (resuming: a server takes no offset)."""
    try:
        with wave.open(str(path), "rb") as wav:
            params = wav.getparams()
            wav.setpos(min(params.nframes, int(start_s * params.framerate)))
            frames = wav.readframes(params.nframes)
    except (OSError, EOFError, wave.Error) as exc:
        raise TranscriberUnavailable(
            f"{path}: resuming on a transcription server needs a WAV file: {exc}"
        ) from None
    out = io.BytesIO()
    with wave.open(out, "wb") as cut:
        cut.setparams(params)
        cut.writeframes(frames)
    return out.getvalue()


def multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type: the fields, then the file."""
    boundary = f"cohost-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
    )
    parts.append(data + f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class ServerTranscriber:
    """A `Transcriber` over an OpenAI-compatible transcription server."""

    def __init__(
        self,
        url: str,
        *,
        model: str = "whisper-1",
        api_key: SecretStr | None = None,
        timeout_s: float = 30.0,
        language: str = "en",
        response_format: ResponseFormat = "verbose_json",
    ) -> None:
        """url: the API's base, e.g. http://127.0.0.1:8000/v1 (a full .../audio/transcriptions
        is taken as it is)."""
        if not url:
            raise ValueError("ServerTranscriber needs the server's url")
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/audio/transcriptions") else base + (
            "/audio/transcriptions" if base.endswith("/v1") else "/v1/audio/transcriptions"
        )  # fmt: skip
        self.model = model or "whisper-1"
        self._shown = address(self.endpoint)  # for messages: no user, password or query
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.language = language
        self.response_format: ResponseFormat = response_format

    def _redact(self, text: str) -> str:
        return masked(text, self._api_key)

    def transcribe(
        self, audio: Path | bytes, *, hotwords: str = "", start_s: float = 0.0
    ) -> Iterator[Segment]:
        """Segments of the server's transcript (see `cohost.core.ports.Transcriber`)."""
        offset = 0.0
        if isinstance(audio, bytes):
            skip = max(0, int(start_s * SAMPLE_RATE)) * 2  # bytes of 16-bit samples
            data, name = pcm_wav(audio[skip:]), "utterance.wav"
            offset, seconds = skip / 2 / SAMPLE_RATE, max(0, len(audio) - skip) / 2 / SAMPLE_RATE
        elif start_s > 0:
            data, name = _wav_from(audio, start_s), audio.name
            offset, seconds = start_s, _wav_seconds(data)
        else:
            try:
                data = audio.read_bytes()
            except OSError as exc:
                raise TranscriberUnavailable(f"cannot read {audio}: {exc}") from None
            name, seconds = audio.name, _wav_seconds(data)
        fields = {"model": self.model, "response_format": self.response_format}
        if self.language:
            fields["language"] = self.language
        if hotwords:
            fields["prompt"] = hotwords
        answer = self._post(fields, name, data)
        yield from _segments(answer, offset=offset, seconds=seconds, where=self.endpoint)

    def _post(self, fields: dict[str, str], name: str, data: bytes) -> dict[str, Any]:
        body, content_type = multipart(fields, name, data)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self._api_key is not None and self._api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode(errors="replace").strip()
            raise TranscriberUnavailable(
                self._redact(f"transcription server {self._shown} answered {exc.code}: {detail}")
            ) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
            reason = getattr(exc, "reason", exc)
            raise TranscriberUnavailable(
                self._redact(f"transcription server {self._shown} failed: {reason}")
            ) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise TranscriberUnavailable(f"transcription server {self._shown}: answer too long")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise TranscriberUnavailable(
                f"transcription server {self._shown} answered {len(raw)} bytes that are not "
                "JSON (is response_format supported?)"
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise TranscriberUnavailable(
                f"transcription server {self._shown} answered JSON without a `text`"
            )
        return answer


def _wav_seconds(data: bytes) -> float:
    """The length of a WAV file's audio; 0 when it is another format (unknown)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            return wav.getnframes() / wav.getframerate() if wav.getframerate() else 0.0
    except (EOFError, wave.Error):
        return 0.0


def _segments(
    answer: dict[str, Any], *, offset: float, seconds: float, where: str
) -> Iterator[Segment]:
    """The segments of a verbose_json answer, or its text as one segment over the audio."""
    segments = answer.get("segments")
    if isinstance(segments, list) and segments:
        for i, s in enumerate(segments):
            try:
                start, end, text = float(s["start"]), float(s["end"]), str(s["text"]).strip()
            except (KeyError, TypeError, ValueError):
                raise TranscriberUnavailable(
                    f"transcription server {where}: segment {i} lacks start, end or text"
                ) from None
            if text:
                yield Segment(start=offset + start, end=offset + max(start, end), text=text)
        return
    text = str(answer["text"]).strip()
    if text:
        duration = answer.get("duration")
        length = float(duration) if isinstance(duration, int | float) else seconds
        yield Segment(start=offset, end=offset + length, text=text)
