"""The twin's voice played by the overlay itself: clips served short-lived, played in Chromium."""

from __future__ import annotations

import asyncio
import io
import re
import wave
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from cohost.adapters.speech import EspeakSpeaker, wav_info
from cohost.core.bus_events import MessagePicked, TurnStarted
from cohost.core.clock import RealClock
from cohost.core.serialise import emit
from cohost.embedded.bus import LocalBus
from cohost.web.app import create_web_app, overlay_event
from cohost.web.audio import CLIP_PATH, AudioClips
from tests.support.audio import require_espeak
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium, screenshot, serve
from tests.web.test_app import CAPTION, TOKEN, FakeView

WAIT_MS = 10_000  # how long a page may take (not a timing check)
SENTENCE = "Dash through them, never jump. Trust me on this one."
# What obs-browser passes to its Chromium: a browser source plays sound without a click.
AUTOPLAY = "--autoplay-policy=no-user-gesture-required"


def _espeak_wav(tmp_path: Path, text: str = SENTENCE) -> bytes:
    """A real sentence from the real default voice, as the speaker makes it."""
    require_espeak()
    path = tmp_path / "sentence.wav"

    async def synth() -> None:
        speaker = EspeakSpeaker(RealClock(), wav_dir=tmp_path, realtime=False)
        await speaker.synthesize(text, path)

    asyncio.run(synth())
    return path.read_bytes()


def test_clips_are_kept_under_unguessable_ids_and_go() -> None:
    now = [0.0]
    clips = AudioClips(keep=3, ttl_s=60.0, max_bytes=100, monotonic=lambda: now[0])
    paths = [clips.keep_wav(bytes([i]) * 10) for i in range(4)]
    assert all(CLIP_PATH.fullmatch(p) for p in paths)
    assert len(set(paths)) == 4
    ids = [p.removeprefix("/audio/").removesuffix(".wav") for p in paths]
    assert clips.get(ids[0]) is None  # beyond the newest 3
    assert clips.get(ids[3]) == bytes([3]) * 10
    clips.keep_wav(b"x" * 95)  # over the byte budget: the oldest go first
    assert clips.get(ids[1]) is None and clips.get(ids[2]) is None and clips.get(ids[3]) is None
    now[0] = 61.0
    assert len(clips) == 0  # and nothing outlives its time
    assert clips.get("../../etc/passwd") is None


async def test_the_web_app_serves_a_clip_and_only_known_ones() -> None:
    clips = AudioClips()
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 1600)
    path = clips.keep_wav(wav.getvalue())
    app = create_web_app(FakeView(), token=SecretStr(TOKEN), clips=clips)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        got = await client.get(path)  # no token: OBS cannot type one
        assert got.status_code == 200
        assert got.headers["content-type"] == "audio/wav"
        assert got.headers["cache-control"] == "no-store"
        assert got.content == wav.getvalue()
        assert (await client.get("/audio/" + "A" * 22 + ".wav")).status_code == 404
        assert (await client.get(path.removesuffix(".wav"))).status_code == 404
    bare = create_web_app(FakeView(), token=SecretStr(TOKEN))  # no clips: nothing to serve
    transport = httpx.ASGITransport(app=bare)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.get(path)).status_code == 404


def test_the_overlay_gets_only_clips_of_its_own_web_app() -> None:
    own = "/audio/" + "a1B2_c3-" * 3 + ".wav"
    assert overlay_event("caption", {**CAPTION, "audio": own})["audio"] == own  # type: ignore[index]
    for forged in ("https://example.com/x.wav", "/audio/../dashboard", "javascript:alert(1)"):
        shown = overlay_event("caption", {**CAPTION, "audio": forged})
        assert shown is not None and "audio" not in shown, forged
    # an event from before audio (or from a voice without clips) still shows its caption
    assert overlay_event("caption", CAPTION) == {
        "turn_id": "t1",
        "text": CAPTION["text"],
        "seconds": pytest.approx(2.5),
    }


async def test_the_speaker_hands_each_sentence_to_the_clips(tmp_path: Path) -> None:
    require_espeak()
    bus = LocalBus()
    captions: list[dict[str, object]] = []
    bus.subscribe(lambda topic, payload: captions.append(payload) if topic == "caption" else None)
    clips = AudioClips()
    speaker = EspeakSpeaker(RealClock(), wav_dir=tmp_path, realtime=False, bus=bus)
    speaker.clips = clips.keep_wav  # as the daemon's web app sets it
    async with speaker:
        await speaker.say("Hello chat.", turn_id="t1")
        await speaker.say(SENTENCE, turn_id="t1")
    assert [c["text"] for c in captions] == ["Hello chat.", SENTENCE]
    for caption, name in zip(captions, ("cohost-t1-1.wav", "cohost-t1-2.wav"), strict=True):
        audio = str(caption["audio"])
        assert CLIP_PATH.fullmatch(audio)
        kept = clips.get(audio.removeprefix("/audio/").removesuffix(".wav"))
        assert kept == (tmp_path / name).read_bytes()  # the very sentence that was said
        seconds = float(caption["end"]) - float(caption["start"])  # type: ignore[arg-type]
        assert seconds == pytest.approx(wav_info(tmp_path / name).seconds)


def test_the_overlay_plays_the_sentence_with_its_caption(tmp_path: Path) -> None:
    wav = _espeak_wav(tmp_path)
    seconds = wav_info(tmp_path / "sentence.wav").seconds
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    view = FakeView()
    clips = AudioClips()
    app = create_web_app(view, token=SecretStr(TOKEN), clips=clips)
    ARTIFACTS.mkdir(exist_ok=True)
    with serve(app, before_stop=app.state.hub.close) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, AUTOPLAY])
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            quiet = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"{url}/overlay?audio=1")
            quiet.goto(f"{url}/overlay")
            for p in (page, quiet):
                p.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
            page.evaluate(
                """() => { window.heard = [];
                for (const e of ['loadedmetadata', 'play', 'playing', 'ended'])
                  voice.addEventListener(e, () => heard.push(e)); }"""
            )
            path = clips.keep_wav(wav)
            view.bus.publish(
                "caption",
                {"turn_id": "t1", "text": SENTENCE, "start": 0, "end": seconds, "audio": path},
            )
            # the clip loads and plays: its stream is there, with the sentence's length
            page.wait_for_function("() => voice.currentTime > 0.2", timeout=WAIT_MS)
            assert page.evaluate("new URL(voice.src).pathname") == path
            duration = page.evaluate("voice.duration")
            assert duration == pytest.approx(seconds, abs=0.05)
            assert page.evaluate("heard.slice(0, 3)") == ["play", "loadedmetadata", "playing"] or (
                {"play", "loadedmetadata", "playing"} <= set(page.evaluate("heard"))
            )
            # the caption shows while its sentence is heard
            page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
            assert page.locator("#caption").inner_text() == SENTENCE
            assert page.evaluate("voice.paused") is False
            assert page.evaluate("document.body.dataset.audioError") is None
            page.screenshot(path=ARTIFACTS / "overlay-audio-1920x1080.png")
            # without audio=1 the page shows the caption and plays nothing (no double voice)
            quiet.wait_for_selector("#caption.shown", timeout=WAIT_MS)
            assert quiet.evaluate("voice.getAttribute('src')") is None
            assert quiet.evaluate("voice.currentTime") == 0
            # a skip cuts the caption and the sound together
            view.bus.publish("caption/cut", {"turn_id": "t1", "at": 1.0})
            page.wait_for_selector("#caption:not(.shown)", state="attached", timeout=WAIT_MS)
            page.wait_for_function(
                "() => voice.paused && !voice.getAttribute('src')", timeout=WAIT_MS
            )
            # a clip that is gone never holds its caption back
            gone = "/audio/" + "Z" * 22 + ".wav"
            view.bus.publish("caption", {**CAPTION, "turn_id": "t2", "audio": gone})
            page.wait_for_selector("#caption.shown", timeout=WAIT_MS)
            assert page.locator("#caption").inner_text() == CAPTION["text"]
        finally:
            browser.close()


def test_the_clip_path_is_what_the_overlay_accepts() -> None:
    path = AudioClips().keep_wav(b"RIFF")
    assert re.fullmatch(r"/audio/[A-Za-z0-9_-]{22}\.wav", path)


def test_a_turns_next_sentence_waits_for_the_last_to_end(tmp_path: Path) -> None:
    first_wav = _espeak_wav(tmp_path, "Hello chat.")
    second_wav = _espeak_wav(tmp_path, "Dash through them.")
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    view = FakeView()
    clips = AudioClips()
    app = create_web_app(view, token=SecretStr(TOKEN), clips=clips)
    with serve(app, before_stop=app.state.hub.close) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, AUTOPLAY])
        try:
            page = browser.new_page()
            page.goto(f"{url}/overlay?audio=1")
            page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
            page.evaluate(
                """() => { window.heard = []; let now = '';
                // the page's own 'ended' handler runs first and loads the next clip: an end
                // belongs to the clip that was playing
                voice.addEventListener('playing', () => {
                  now = new URL(voice.src).pathname; heard.push(['playing', now]); });
                voice.addEventListener('ended', () => heard.push(['ended', now]));
                }"""
            )
            first, second = clips.keep_wav(first_wav), clips.keep_wav(second_wav)
            # the daemon's clock ends the first sentence a little before the page does
            for text, path in (("Hello chat.", first), ("Dash through them.", second)):
                view.bus.publish(
                    "caption", {"turn_id": "t1", "text": text, "start": 0, "end": 1, "audio": path}
                )
            page.wait_for_function(
                "(path) => heard.some(([e, src]) => e === 'ended' && src === path)",
                arg=second,
                timeout=WAIT_MS,
            )
            heard = [tuple(h) for h in page.evaluate("heard")]
            assert heard.index(("ended", first)) < heard.index(("playing", second))
            assert ("playing", first) in heard  # heard whole, never cut for the next one
            assert page.locator("#caption").inner_text() == "Dash through them."
            # another turn's sentence cuts the one playing at once (a new reply, after a skip)
            view.bus.publish("caption", {**CAPTION, "turn_id": "t2", "audio": first})
            page.wait_for_function(
                "(path) => new URL(voice.src).pathname === path && voice.currentTime > 0",
                arg=first,
                timeout=WAIT_MS,
            )
        finally:
            browser.close()


def test_a_clip_that_cannot_play_never_stops_the_turns_next_sentences(tmp_path: Path) -> None:
    good = _espeak_wav(tmp_path, "Dash through them.")
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    view = FakeView()
    clips = AudioClips()
    app = create_web_app(view, token=SecretStr(TOKEN), clips=clips)
    with serve(app, before_stop=app.state.hub.close) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, AUTOPLAY])
        try:
            page = browser.new_page()
            page.goto(f"{url}/overlay?audio=1")
            page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
            # bytes no browser can decode: the clip fails as it loads
            broken = clips.keep_wav(b"RIFX not a wave at all " * 200)
            second = clips.keep_wav(good)
            for text, path in (("Broken clip.", broken), ("Dash through them.", second)):
                view.bus.publish(
                    "caption", {"turn_id": "t1", "text": text, "start": 0, "end": 1, "audio": path}
                )
            page.wait_for_function(
                "(path) => new URL(voice.src).pathname === path && voice.currentTime > 0.2",
                arg=second,
                timeout=WAIT_MS,
            )
            assert page.locator("#caption").inner_text() == "Dash through them."
            assert page.evaluate("document.body.dataset.audioError") is not None
        finally:
            browser.close()


# A bright daytime game scene drawn in CSS (no image files): sky, sun, hills, a HUD. The hardest
# background for white captions, so the docs show them where they are hardest to read.
SCENE = """<!doctype html><html><head><style>
html, body { margin: 0; height: 100%; overflow: hidden; }
body { background:
  radial-gradient(circle at 78% 22%, #fff7c2 0 5%, rgba(255, 247, 194, 0) 12%),
  radial-gradient(ellipse 60% 30% at 20% 100%, #4f8f3a 0 70%, transparent 71%),
  radial-gradient(ellipse 70% 35% at 85% 100%, #6aa84f 0 70%, transparent 71%),
  linear-gradient(#8ecae6, #dff3fb 62%, #b7d97a 62%, #7fb04a); }
.hud { position: absolute; top: 3vh; left: 2vw; font: 700 3vh sans-serif; color: #fff;
  text-shadow: 0 2px 3px #000; }
.hud b { color: #ffd166; }
iframe { position: absolute; inset: 0; width: 100%; height: 100%; border: 0; }
</style></head><body><div class="hud">HP <b>5/5</b> &nbsp; GEO <b>1,284</b></div>
<iframe src="OVERLAY"></iframe></body></html>"""


def test_the_overlay_over_a_game_scene(tmp_path: Path) -> None:
    wav = _espeak_wav(tmp_path)
    executable = chromium()
    from playwright import sync_api  # noqa: PLC0415 (after the check that it is there)

    view = FakeView()
    clips = AudioClips()
    app = create_web_app(view, token=SecretStr(TOKEN), clips=clips, overlay_question=True)
    with serve(app, before_stop=app.state.hub.close) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, AUTOPLAY])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_content(SCENE.replace("OVERLAY", f"{url}/overlay?audio=1&question=1"))
            overlay = page.frame_locator("iframe")
            overlay.locator("body[data-live='1']").wait_for(timeout=WAIT_MS)
            emit(
                view.bus,
                MessagePicked(
                    message_id="m1",
                    login="speedyfan",
                    text="twin, any tips for the mantis lords?",
                    picked=True,
                    score=3.2,
                    parts={},
                    reason="",
                    category="picked",
                ),
            )
            emit(view.bus, TurnStarted(turn_id="t1", message_id="m1"))
            view.bus.publish(
                "caption",
                {
                    "turn_id": "t1",
                    "text": SENTENCE,
                    "start": 0,
                    "end": 3.0,
                    "audio": clips.keep_wav(wav),
                },
            )
            overlay.locator("#caption.shown").wait_for(timeout=WAIT_MS)
            overlay.locator("#question.shown").wait_for(timeout=WAIT_MS)
            assert overlay.locator("#question").inner_text() == (
                "speedyfan: twin, any tips for the mantis lords?"
            )
            page.wait_for_timeout(500)  # the fade-in's end: the picture shows it whole
            # the scene shows through the overlay: its page is transparent in the frame
            assert (
                overlay.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
                == "rgba(0, 0, 0, 0)"
            )
            screenshot(page, "overlay-scene-1280x720.png", docs="overlay-scene.png")
        finally:
            browser.close()


def test_every_picture_the_docs_show_is_there_and_small() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    shown = {
        name
        for page in docs.glob("*.md")
        for name in re.findall(r"\]\((img/[^)]+)\)", page.read_text(encoding="utf-8"))
    }
    assert {"img/overlay-scene.png", "img/dashboard-held.png"} <= shown
    for name in shown:
        picture = (docs / name).read_bytes()
        assert picture.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert len(picture) < 400_000, name  # committed: small
