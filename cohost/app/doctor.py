"""`cohost doctor`: one line per check of what the daemon needs, and what to do about each."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cohost.adapters.speech import EspeakSpeaker, WavSpeaker, has_sound_card
from cohost.app.build import uses_server
from cohost.app.paths import wav_dir_of
from cohost.app.settings import Settings
from cohost.core.errors import InputError
from cohost.core.net import address

Status = Literal["ok", "warn", "fail"]
NET_TIMEOUT_S = 3.0
MIN_FREE_BYTES = 1 << 30  # traces, WAVs and the index grow during a long stream


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        tail = f" — {self.fix}" if self.fix and self.status != "ok" else ""
        return f"{self.status:<4} {self.name}: {self.detail}{tail}"


def check_data_dir(settings: Settings) -> Check:
    """The data directory exists (or can), is writable, and has room."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data dir", "fail", f"{path}: {exc.strerror}", "set COHOST_DATA_DIR")
    free = shutil.disk_usage(path).free
    gib = free / (1 << 30)
    if free < MIN_FREE_BYTES:
        return Check("disk", "warn", f"{gib:.1f} GiB free under {path}", "free some space")
    return Check("data dir", "ok", f"{path} is writable, {gib:.1f} GiB free")


def check_tokens(settings: Settings) -> Check:
    """The bot's Twitch token is stored (validating it online is `cohost auth --check`)."""
    from cohost.adapters.twitch_tokens import TokenStore  # noqa: PLC0415

    store = TokenStore.in_data_dir(settings.data_dir)
    try:
        token = store.load("bot")
    except Exception as exc:  # a corrupt token file is a finding, not a crash of the doctor
        return Check("twitch token", "fail", str(exc), "run `cohost auth` again")
    if token is None:
        return Check(
            "twitch token",
            "warn",
            "no bot token stored (fine for `cohost run --console` and replay)",
            "run `cohost auth` before going live",
        )
    return Check("twitch token", "ok", f"bot token for {token.login} stored")


def check_model(
    kind: str,
    url: str,
    name: str,
    setting: str,
    *,
    model: str = "",
    chat: bool = False,
) -> Check:
    """A model server answers /models and generates a token, or the embedded part is in use."""
    if not uses_server(kind, url):
        return Check(name, "ok", "embedded (no server)")
    if not url:
        return Check(name, "fail", "kind is openai but no URL", f"set {setting}")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/models", timeout=NET_TIMEOUT_S) as response:
            models = [m.get("id") for m in json.loads(response.read()).get("data", [])]
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return Check(name, "warn", f"{url} wants credentials", "check the api_key setting")
        return Check(name, "fail", f"{url}: HTTP {exc.code}", "is the server healthy?")
    except (OSError, ValueError) as exc:
        return Check(name, "fail", f"{url} unreachable ({exc})", "start the server or fix the URL")
    served = ", ".join(map(str, models)) or "no models"
    if model:
        # A server can list its models and still die at the first token (a CPU vLLM in bf16 on
        # a CPU whose bf16 kernels it cannot run): only a generation shows it can answer.
        failure = _generation_failure(url, model, chat=chat)
        if failure:
            return Check(
                name,
                "fail",
                f"{url} serves {served} but cannot generate with {model!r}: {failure}",
                "read the server's log (a CPU vLLM needs --dtype float32)",
            )
        return Check(name, "ok", f"{url} serves {served} and generates with {model!r}")
    return Check(name, "ok", f"{url} serves {served}")


GENERATE_TIMEOUT_S = 30.0  # a first token on a CPU server, after a cold start


def _generation_failure(url: str, model: str, *, chat: bool) -> str:
    """Why one token could not be generated, or "" when it was."""
    body: dict[str, object] = {"model": model, "max_tokens": 1, "temperature": 0}
    if chat:
        body["messages"] = [{"role": "user", "content": "hi"}]
    else:
        body["prompt"] = "hi"
    path = "/chat/completions" if chat else "/completions"
    request = urllib.request.Request(
        url.rstrip("/") + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=GENERATE_TIMEOUT_S) as response:
            choices = json.loads(response.read()).get("choices")
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {_error_message(exc)}".strip()
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if choices else "the answer had no choices"


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read()).get("error", {})
    except (OSError, ValueError):
        return ""
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    return f"({str(message)[:160]})" if message else ""


def check_tcp(name: str, host: str, port: int, fix: str) -> Check:
    """Something listens at host:port."""
    try:
        with socket.create_connection((host, port), timeout=NET_TIMEOUT_S):
            return Check(name, "ok", f"{host}:{port} accepts connections")
    except OSError as exc:
        return Check(name, "fail", f"{host}:{port} unreachable ({exc.strerror or exc})", fix)


def check_bus(settings: Settings) -> Check:
    """The MQTT broker, when one is configured: it takes cohost's login and refuses strangers'."""
    from cohost.adapters.mqtt import BrokerAnswer, probe_broker  # noqa: PLC0415

    bus = settings.bus
    if not bus.mqtt_host:
        return Check("mqtt", "ok", "in-process bus (no broker configured)")
    where = f"{bus.mqtt_host}:{bus.mqtt_port}"
    reachable = check_tcp("mqtt", bus.mqtt_host, bus.mqtt_port, "start the broker or fix the host")
    if reachable.status != "ok":
        return reachable
    password = bus.password.get_secret_value() if bus.password else None
    user = bus.username or None
    answer, why = asyncio.run(
        probe_broker(
            bus.mqtt_host, bus.mqtt_port, username=user, password=password, timeout_s=NET_TIMEOUT_S
        )
    )
    if answer is BrokerAnswer.REFUSED:
        login = f"as {user!r}" if user else "anonymously"
        fix = "check COHOST_BUS__USERNAME and COHOST_BUS__PASSWORD (mosquitto_passwd)"
        return Check("mqtt", "fail", f"{where} refused cohost's login {login} ({why})", fix)
    if answer is BrokerAnswer.UNREACHABLE:
        return Check("mqtt", "fail", f"{where} did not answer MQTT ({why})", "is it a broker?")
    if user is not None:
        answer, _ = asyncio.run(probe_broker(bus.mqtt_host, bus.mqtt_port, timeout_s=NET_TIMEOUT_S))
    if answer is BrokerAnswer.ACCEPTED:
        # with cohost's own login anonymous, the first answer already says so
        fix = (
            "set allow_anonymous false, a password_file and an acl_file in the broker "
            "(docs/mqtt.md), and COHOST_BUS__USERNAME / COHOST_BUS__PASSWORD here"
        )
        detail = (
            f"{where} accepts anonymous clients: anyone who reaches it reads every event "
            "(chat, replies, captions) and can write the control topic"
        )
        return Check("mqtt", "warn", detail, fix)
    if answer is BrokerAnswer.UNREACHABLE:
        detail = f"{where} takes cohost's login as {user!r}; an anonymous try got no answer"
        return Check("mqtt", "warn", detail, "check allow_anonymous false in the broker")
    return Check("mqtt", "ok", f"{where} takes cohost's login as {user!r} and refuses anonymous")


def check_control(settings: Settings) -> Check:
    """Commands over MQTT: off, or on with a secret that signs them."""
    bus = settings.bus
    if not bus.mqtt_host:
        return Check("mqtt control", "ok", "off (no broker)")
    if not bus.control_client:
        if bus.control_secret is not None:
            fix = "set COHOST_BUS__CONTROL_CLIENT to the controller's name"
            return Check("mqtt control", "warn", "a secret is set but no controller: off", fix)
        return Check("mqtt control", "ok", "off (COHOST_BUS__CONTROL_CLIENT is empty)")
    if bus.control_secret is None:
        return Check(
            "mqtt control",
            "warn",
            f"on for {bus.control_client!r} but no control secret: every command is refused",
            "set COHOST_BUS__CONTROL_SECRET (`openssl rand -hex 32`) here and in the controller",
        )
    return Check(
        "mqtt control",
        "ok",
        f"commands signed by {bus.control_client!r} within {bus.control_window_s:g} s",
    )


def check_vectors(settings: Settings) -> Check:
    """The Qdrant server, when the journal uses one; the embedded engine otherwise."""
    journal = settings.journal
    if journal.vector_engine != "qdrant":
        return Check("qdrant", "ok", f"embedded ({journal.vector_engine})")
    url = journal.qdrant_url
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/readyz", timeout=NET_TIMEOUT_S):
            return Check("qdrant", "ok", f"{url} is ready")
    except (OSError, ValueError) as exc:
        return Check("qdrant", "fail", f"{url} not ready ({exc})", "start Qdrant or fix the URL")


def check_speech(settings: Settings) -> Check:
    """The voice: the engine speaks a real WAV, and where its sentences will go."""
    speech = settings.speech
    if speech.engine == "captions":
        return Check("speech", "ok", "captions only (COHOST_SPEECH__ENGINE=captions)")
    if speech.engine == "http":
        if not speech.http_url or not speech.http_voice_id:
            fix = "set COHOST_SPEECH__HTTP_URL and COHOST_SPEECH__HTTP_VOICE_ID"
            return Check("speech", "fail", "the HTTP voice is not configured", fix)
        # not probed: each request to a hosted TTS is billed
        detail = f"HTTP TTS, voice {speech.http_voice_id} (not probed: requests are billed)"
        return Check("speech", "ok", detail + _destination(settings))
    if speech.engine == "openai":
        if not speech.openai_url or not speech.openai_voice:
            fix = "set COHOST_SPEECH__OPENAI_URL and COHOST_SPEECH__OPENAI_VOICE"
            return Check("speech", "fail", "the OpenAI-style voice is not configured", fix)
        # not probed: a hosted one bills each request, a local one may still be loading
        detail = (
            f"OpenAI-style TTS at {address(speech.openai_url)}, voice {speech.openai_voice}, model "
            f"{speech.openai_model} (not probed: `cohost say hello` tries it)"
        )
        return Check("speech", "ok", detail + _destination(settings))
    if speech.engine == "espeak" and shutil.which("espeak-ng") is None:
        fix = "apt-get install espeak-ng, or set COHOST_SPEECH__ENGINE=captions"
        if "engine" in speech.model_fields_set:
            return Check("speech", "fail", "espeak-ng is not installed", fix)
        return Check("speech", "warn", "espeak-ng is not installed: captions only", fix)
    if speech.output == "device" and shutil.which("aplay") is None:
        return Check("speech", "fail", "aplay is missing", "apt-get install alsa-utils")
    from cohost.core.clock import RealClock  # noqa: PLC0415

    async def probe(path: Path) -> float:
        speaker: WavSpeaker
        if speech.engine == "piper":
            from cohost.adapters.piper_speech import PiperSpeaker  # noqa: PLC0415

            speaker = PiperSpeaker(
                RealClock(), wav_dir=path.parent, model=speech.piper_voice, realtime=False
            )
        else:
            speaker = EspeakSpeaker(
                RealClock(),
                wav_dir=path.parent,
                voice=speech.voice,
                realtime=False,
                use_pyttsx3=False,
            )
        async with speaker:
            return (await speaker.synthesize("cohost doctor", path)).seconds

    with tempfile.TemporaryDirectory() as tmp:
        try:
            seconds = asyncio.run(probe(Path(tmp) / "doctor.wav"))
        except Exception as exc:  # any failure of the engine is the finding
            setting = "VOICE" if speech.engine == "espeak" else "PIPER_VOICE"
            fix = f"check COHOST_SPEECH__{setting}"
            return Check("speech", "fail", f"{speech.engine} failed: {exc}", fix)
    return Check(
        "speech", "ok", f"{speech.engine} spoke {seconds:.1f} s of audio" + _destination(settings)
    )


def _destination(settings: Settings) -> str:
    """Where the voice's sentences will go, as the tail of the check's detail."""
    speech = settings.speech
    device = speech.output == "device" or (speech.output == "auto" and has_sound_card())
    if device:
        return ", played on the sound card"
    why = " (no sound card)" if speech.output == "auto" else ""
    return f", written as WAV files to {wav_dir_of(settings)}{why}"


def check_live(settings: Settings) -> list[Check]:
    """What a live stream needs beyond the console: who the channel and streamer are, and the
    tokens that guard the dashboard and the journal page. One warning per missing setting."""
    twin = settings.twin
    missing: list[tuple[str, str, str]] = []  # (check name, what is missing, the fix)
    if not twin.streamer:  # the channel follows it (Settings._one_streamer): one setting
        missing.append(
            (
                "streamer",
                "no streamer set: the twin joins no channel's chat, learns from nobody's lines, "
                "and no chat command is the streamer's",
                "set COHOST_TWIN__STREAMER to your Twitch login; it is also the channel "
                "(COHOST_TWITCH__CHANNEL follows it), docs/twitch.md",
            )
        )
    if settings.web.enabled and settings.web.token is None:
        missing.append(
            (
                "web token",
                "no dashboard token: held replies cannot be approved and the dashboard is "
                "read-only",
                "set COHOST_WEB__TOKEN (`openssl rand -hex 24`)",
            )
        )
    if settings.journal.token is None:
        missing.append(
            (
                "journal token",
                "no journal token: the journal page (`cohost journal serve`) will not start",
                "set COHOST_JOURNAL__TOKEN (`openssl rand -hex 24`)",
            )
        )
    found = [Check(name, "warn", detail, fix) for name, detail, fix in missing]
    if not found:
        detail = f"streamer and channel {twin.streamer}, web and journal tokens set"
        found.append(Check("live settings", "ok", detail))
    return found


def check_twin(settings: Settings) -> Check:
    """The embedded twin learns from the streamer's own lines: warn when it has none or few."""
    sim = settings.simulator
    if uses_server(sim.kind, sim.url):
        return Check("twin", "ok", f"served model {sim.model!r}")
    from cohost.app.build import FEW_LINES, writing_tiers  # noqa: PLC0415
    from cohost.app.daemon import streamer_log_lines  # noqa: PLC0415
    from cohost.embedded.markov import read_writings  # noqa: PLC0415

    try:
        said = streamer_log_lines(settings)
        written = read_writings(settings.twin.writings, writing_tiers(settings))
    except (OSError, ValueError, InputError) as exc:
        fix = "check COHOST_TWIN__CHAT_LOGS and COHOST_TWIN__WRITINGS"
        return Check("twin", "fail", f"its chat logs or writings cannot be read: {exc}", fix)
    lines = len(said) + len(written)
    detail = (
        f"embedded stand-in trained on {lines} line(s) ({len(said)} of the streamer's chat, "
        f"{len(written)} from writings)"
    )
    fix = (
        "set COHOST_TWIN__CHAT_LOGS (with COHOST_TWIN__STREAMER) or COHOST_TWIN__WRITINGS, "
        "or serve a trained twin (docs/training.md)"
    )
    if lines == 0:
        return Check("twin", "warn", detail + ": it has nothing to say", fix)
    if lines < FEW_LINES:
        return Check("twin", "warn", detail + ": most turns will be silent", fix)
    return Check("twin", "ok", detail)


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a streamer would fix things."""
    sim, rew = settings.simulator, settings.rewriter
    steps: Sequence[Callable[[], Check]] = (
        lambda: Check("settings", "ok", "loaded"),
        lambda: check_data_dir(settings),
        lambda: check_tokens(settings),
        lambda: check_twin(settings),
        lambda: check_model(
            sim.kind, sim.url, "simulator", "COHOST_SIMULATOR__URL", model=sim.model
        ),
        lambda: check_model(
            rew.kind, rew.url, "rewriter", "COHOST_REWRITER__URL", model=rew.model, chat=True
        ),
        lambda: check_vectors(settings),
        lambda: check_bus(settings),
        lambda: check_control(settings),
        lambda: check_speech(settings),
    )
    return [*check_live(settings), *(step() for step in steps)]


def doctor(settings: Settings) -> int:
    """Print every check; exit status 1 when any failed."""
    checks = run_checks(settings)
    for check in checks:
        print(check.line())
    return 1 if any(c.status == "fail" for c in checks) else 0
