"""The twin's spoken sentences as WAV clips the overlay fetches and plays (OBS captures it).

The speaker hands each sentence's WAV bytes to `AudioClips.keep` as it starts saying it, and
puts the path it gets back (`/audio/ID.wav`) into the caption event. The overlay needs no
token, so a clip's id is what guards it: 128 random bits, and a clip lives only as long as it
takes to fetch and play it. What a clip holds is said out loud on stream anyway.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

PATH_PREFIX = "/audio/"
CLIP_PATH = re.compile(r"/audio/[A-Za-z0-9_-]{22,64}\.wav")  # the only audio a page may play
KEEP = 32  # the newest clips kept; a caption plays one at a time
TTL_S = 180.0  # a clip older than this is gone (a sentence is far shorter)
MAX_BYTES = 48 * 1024 * 1024  # all clips together; the oldest go first


class AudioClips:
    """The newest spoken sentences' WAV bytes, each under an unguessable id, for a while.

    Called from the speaker and from the web app, which may run on different threads.
    """

    def __init__(
        self,
        *,
        keep: int = KEEP,
        ttl_s: float = TTL_S,
        max_bytes: int = MAX_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keep = keep
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes
        self._monotonic = monotonic
        self._clips: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # oldest first
        self._bytes = 0
        self._lock = threading.Lock()
        self.kept = 0  # clips handed out since the start
        self.served = 0  # clips fetched

    def keep_wav(self, wav: bytes) -> str:
        """Keep one sentence's WAV; the path the overlay fetches it from."""
        clip_id = secrets.token_urlsafe(16)  # 128 bits: 22 characters
        with self._lock:
            self._clips[clip_id] = (self._monotonic(), wav)
            self._bytes += len(wav)
            self.kept += 1
            self._prune()
        return f"{PATH_PREFIX}{clip_id}.wav"

    def get(self, clip_id: str) -> bytes | None:
        """The clip's WAV bytes, or None when there is no such clip (or no longer)."""
        with self._lock:
            self._prune()
            found = self._clips.get(clip_id)
            if found is None:
                return None
            self.served += 1
            return found[1]

    def __len__(self) -> int:
        with self._lock:
            self._prune()
            return len(self._clips)

    def _prune(self) -> None:
        oldest = self._monotonic() - self._ttl_s
        while self._clips:
            first, (at, wav) = next(iter(self._clips.items()))
            if len(self._clips) <= self._keep and self._bytes <= self._max_bytes and at >= oldest:
                break
            del self._clips[first]
            self._bytes -= len(wav)
