"""Builds the parts of a turn from Settings: embedded defaults, or model servers when configured."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cohost.adapters.microphone import ArecordMicrophone, WavFileMicrophone
from cohost.adapters.speech import EspeakSpeaker
from cohost.adapters.transcription_server import ServerTranscriber
from cohost.adapters.whisper import WhisperTranscriber
from cohost.app.paths import journal_dir, wav_dir_of
from cohost.app.recall_wiring import recall_query
from cohost.app.settings import Settings, login_of
from cohost.core.errors import InputError, SettingsError
from cohost.core.events import ChatMessage, Tier
from cohost.core.net import address
from cohost.core.options import JournalSettings
from cohost.core.ports import Bus, Clock, Journal, Rewriter, Simulator, Speaker, Transcriber
from cohost.dataset.build import BuildOptions
from cohost.dataset.clean import DEFAULT_CONTEXT_PATTERNS, RULES
from cohost.embedded.extractive import ExtractiveRewriter
from cohost.embedded.markov import MarkovSimulator, WritingTiers, read_writings
from cohost.journal.store import JournalStore
from cohost.pipeline.deliver import CaptionSpeaker
from cohost.pipeline.guard import Guard, default_rules
from cohost.pipeline.kept import KeptEntry, KeptFacts, kept_rule
from cohost.pipeline.listen import ListenOptions, ListenSource
from cohost.pipeline.pick import AnswerMemory, Picker
from cohost.pipeline.privacy import privacy_rule_for
from cohost.pipeline.turn import TurnOptions
from cohost.session import TurnSetup
from cohost.text.render import DEFAULT_FORMAT, ChatFormat, clean_name
from cohost.train.lora import TWIN_FILE, read_adapter_twin

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Models:
    """The simulator and rewriter, and words a person can read about what they are."""

    simulator: Simulator
    rewriter: Rewriter
    description: str  # with the servers' addresses (no credentials): for logs and reports
    label: str  # without any address: for what anyone may read (/healthz)
    look_ahead_lines: int
    embedded: bool = False  # the twin is the Markov stand-in, not a served LoRA
    notes: tuple[str, ...] = ()
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    async def aclose(self) -> None:
        """Close the model servers' connections."""
        for close in self.closers:
            await close()


def uses_server(kind: str, url: str) -> bool:
    """`auto` means: a server when a URL is set, the embedded part otherwise."""
    return kind == "openai" or (kind == "auto" and bool(url))


def build_models(settings: Settings, *, streamer_lines: Sequence[str] = ()) -> Models:
    """The twin simulator and rewriter that settings ask for.

    The embedded Markov simulator learns from the streamer's own chat lines and their writing
    files, and from nothing else: never other chatters or bots (it would say their lines
    verbatim). When that is little or nothing, it says so in the notes.
    """
    notes: list[str] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    twin = settings.twin
    sim = settings.simulator
    simulator: Simulator
    if uses_server(sim.kind, sim.url):
        if not sim.url:
            raise SettingsError("COHOST_SIMULATOR__KIND=openai needs COHOST_SIMULATOR__URL")
        check_adapter_name(settings, notes)
        from cohost.adapters.openai_models import OpenAISimulator  # noqa: PLC0415

        server = OpenAISimulator.from_settings(
            sim, twin_logins=[login for login in (twin.bot_login,) if login]
        )
        closers.append(server.aclose)
        simulator = server
        label = f"{sim.model} ({sim.server_kind})"
        description = f"{sim.model} at {address(sim.url)} ({sim.server_kind})"
    else:
        simulator, description = _markov(settings, streamer_lines, notes)
        label = description
    rew = settings.rewriter
    rewriter: Rewriter
    if uses_server(rew.kind, rew.url):
        if not rew.url:
            raise SettingsError("COHOST_REWRITER__KIND=openai needs COHOST_REWRITER__URL")
        from cohost.adapters.openai_models import OpenAIRewriter  # noqa: PLC0415

        fuser = OpenAIRewriter.from_settings(rew)
        closers.append(fuser.aclose)
        rewriter = fuser
        description += f"; rewriter: {rew.model} at {address(rew.url)} ({rew.where})"
        label += f"; rewriter: {rew.model} ({rew.where})"
        look_ahead = sim.look_ahead_lines
    else:
        rewriter = ExtractiveRewriter()
        description += "; rewriter: extractive (embedded)"
        label += "; rewriter: extractive (embedded)"
        # The extractive rewriter chooses among the twin's simulated lines: let it see them all.
        look_ahead = sim.max_lines
    return Models(
        simulator=simulator,
        rewriter=rewriter,
        description=description,
        label=label,
        look_ahead_lines=look_ahead,
        embedded=isinstance(simulator, MarkovSimulator),
        notes=tuple(notes),
        closers=tuple(closers),
    )


def check_adapter_name(settings: Settings, notes: list[str]) -> None:
    """SettingsError when the local twin LoRA was trained as another name than twin.name.

    The twin model learnt to speak as the name its training data rendered; served under
    another, its prompt ends on a speaker it never was. Only a local adapter folder
    (COHOST_SIMULATOR__ADAPTER) can be checked; the server does not say.
    """
    folder = settings.simulator.adapter
    if folder is None:
        return
    try:
        trained = read_adapter_twin(folder)
    except InputError as exc:
        raise SettingsError(f"COHOST_SIMULATOR__ADAPTER: {exc.located()}") from None
    if trained is None:
        notes.append(
            f"the twin LoRA in {folder} does not say which name it was trained as (no "
            f"{TWIN_FILE}: trained before cohost recorded it, or not by `cohost train lora`): "
            f"make sure its training data rendered the twin as {clean_name(settings.twin.name)!r}"
        )
        return
    serving = clean_name(settings.twin.name)
    if trained != serving:
        raise SettingsError(
            f"the twin LoRA in {folder} was trained as {trained!r}, but it would be served as "
            f"{serving!r} (COHOST_TWIN__NAME): set COHOST_TWIN__NAME={trained}, or build the "
            f"data with `cohost dataset build --name {serving}` and train again"
        )


FEW_LINES = 20  # below this, the embedded twin has little to say that it has not said


def _markov(
    settings: Settings, streamer_lines: Sequence[str], notes: list[str]
) -> tuple[MarkovSimulator, str]:
    twin = settings.twin
    markov = MarkovSimulator.from_settings(settings.simulator)
    markov.train(streamer_lines)
    writing = read_writings(twin.writings, writing_tiers(settings))
    markov.train(writing)
    who = twin.streamer or "nobody"
    description = (
        f"markov (embedded, order {settings.simulator.markov_order}) on {len(streamer_lines)} "
        f"line(s) by {who} and {len(twin.writings)} writing file(s)"
    )
    if not markov.trained:
        said = (
            f"the streamer {twin.streamer} said nothing here"
            if twin.streamer
            else "no streamer is set (COHOST_TWIN__STREAMER)"
        )
        notes.append(
            f"the embedded twin has nothing to learn from: {said} and no writings were given; "
            "it never learns from other chatters or bots, so it stays silent. Set "
            "COHOST_TWIN__WRITINGS or COHOST_TWIN__CHAT_LOGS (with COHOST_TWIN__STREAMER), or a "
            "model server"
        )
    elif markov.chain.lines < FEW_LINES:
        # a chain on a handful of lines can only say them again, and the twin never repeats
        # itself: most turns end silent
        notes.append(
            f"the embedded twin learned from only {markov.chain.lines} line(s) "
            f"({len(streamer_lines)} by {who}, {len(writing)} from writings): expect most turns "
            "to be silent (it never repeats a reply); COHOST_TWIN__WRITINGS or more of the "
            "streamer's chat gives it more to learn from"
        )
    return markov, description


def writing_tiers(settings: Settings) -> WritingTiers:
    """Which journal entries given as writings a twin may learn from."""
    return WritingTiers(private=settings.twin.private_writings, tags=settings.journal)


def turn_setup(settings: Settings, models: Models, *, journal: Journal | None) -> TurnSetup:
    """What every turn of the daemon, a replay or the demo is made of, as the settings say."""
    return TurnSetup(
        picker=Picker(settings.picker, settings.twin),
        options=TurnOptions(
            twin=settings.twin.name,
            mode=settings.turn.mode,
            max_sim_lines=settings.simulator.max_lines,
            lookahead_lines=models.look_ahead_lines,
            recall_k=settings.journal.recall_k,
            candidates=settings.turn.candidates,
            first_chunk_words=settings.turn.first_chunk_words or None,
            privacy_run_words=settings.journal.privacy_run_words,
        ),
        simulator=models.simulator,
        rewriter=models.rewriter,
        memory=AnswerMemory.for_settings(settings.picker),
        window_size=settings.replay.window,
        journal=journal,
        recall_query=recall_query,
        embedded=models.embedded,
    )


class JournalKept:
    """What a journal folder keeps (`cohost.pipeline.kept`), read again when its files change.

    Asked once per outgoing text: a stat of the folder says whether an entry was added, changed
    or removed since (every write renames a file into it), and only then are the files read.
    """

    def __init__(self, folder: Path, tags: JournalSettings) -> None:
        self._store = JournalStore(folder, tags)
        self._folder = folder
        self._seen: int | None = None
        self._facts = KeptFacts()

    def __call__(self) -> KeptFacts:
        try:
            stamp = self._folder.stat().st_mtime_ns
        except OSError:
            return self._facts  # no journal (yet): nothing kept, or what was read last
        if stamp != self._seen:
            entries = list(self._store.entries())
            self._facts = KeptFacts.of(
                (KeptEntry(title=e.title, text=e.text, tier=e.tier) for e in entries),
                public=[e.text for e in entries if e.tier is Tier.PUBLIC],
            )
            self._seen = stamp
        return self._facts


def build_guard(settings: Settings, journal: Path | None = None) -> Guard:
    """The guard over settings: the content rules, the journal's privacy rule for this turn's
    notes, then what the whole journal keeps (every secret, every private fact) for every text.

    `journal`: the folder of `.tid` files (default DATA_DIR/journal).
    """
    tags = settings.journal
    privacy = privacy_rule_for(n=tags.privacy_run_words, mode=tags.privacy_mode)
    kept = kept_rule(JournalKept(journal or journal_dir(settings), tags))
    return Guard(settings.guard, rules=[*default_rules(settings.guard), privacy, kept])


def dataset_options(
    settings: Settings,
    *,
    logins: Sequence[str],
    name: str | None = None,
    rules: Collection[str] = RULES,
    context_patterns: Sequence[str] = (),
    bots: Sequence[str] = (),
    window: int | None = None,
    fmt: ChatFormat = DEFAULT_FORMAT,
) -> BuildOptions:
    """Options from the dataset and picker settings, with the command line's additions.

    `logins` are the accounts whose lines are the twin's; they are rendered as `name`
    (default: the twin's name in settings, the name the simulator uses at inference).
    The co-host bot's own account (`COHOST_TWIN__BOT_LOGIN`) counts as a bot: its lines
    in a log are the twin's model speaking, not the streamer, and no twin is trained on
    its own output.
    """
    ds = settings.dataset
    own = login_of(settings.twin.bot_login)
    if own in {login.lower() for login in logins}:
        own = ""  # the bot posts as the streamer's own account: those lines are theirs
    return BuildOptions(
        twin=name or settings.twin.name,
        twin_logins=tuple(logins),
        window=window if window is not None else ds.window,
        min_context=ds.min_context,
        max_gap_s=ds.max_gap_s,
        rules=frozenset(rules),
        min_chars=ds.min_chars,
        duplicate_lookback=ds.duplicate_lookback,
        moderation_hold_s=ds.moderation_hold_s,
        moderation_hold_lines=ds.moderation_hold_lines,
        context_patterns=(*DEFAULT_CONTEXT_PATTERNS, *ds.context_patterns, *context_patterns),
        bots=frozenset(
            {*settings.picker.known_bots, *ds.extra_bots, *bots, *({own} if own else ())}
        ),
        fmt=fmt,
    )


def speaker_from_settings(settings: Settings, clock: Clock, *, bus: Bus | None = None) -> Speaker:
    """The speaker the settings ask for: a TTS engine to the sound card or into files, or captions.

    The default voice (espeak-ng) is optional: when the engine is left unset and espeak-ng is
    not installed, the twin is captions only and says so in the log. Asked for by name, a
    missing espeak-ng is a settings error at start.
    """
    speech = settings.speech
    wav_dir = wav_dir_of(settings)
    if speech.engine == "captions":
        return CaptionSpeaker(clock, bus=bus)
    if speech.engine == "piper":
        from cohost.adapters.piper_speech import PiperSpeaker  # noqa: PLC0415 (optional engine)

        return PiperSpeaker(
            clock,
            model=speech.piper_voice,
            bus=bus,
            output=speech.output,
            wav_dir=wav_dir,
            keep_wavs=speech.keep_wavs,
        )
    if speech.engine == "http":
        from cohost.adapters.http_speech import HttpSpeaker  # noqa: PLC0415 (optional engine)

        if not speech.http_url or not speech.http_voice_id:
            raise SettingsError(
                "COHOST_SPEECH__ENGINE=http needs COHOST_SPEECH__HTTP_URL "
                "and COHOST_SPEECH__HTTP_VOICE_ID"
            )

        return HttpSpeaker(
            clock,
            url=speech.http_url,
            voice_id=speech.http_voice_id,
            api_key=speech.http_api_key,
            timeout_s=speech.http_timeout_s,
            bus=bus,
            output=speech.output,
            wav_dir=wav_dir,
            keep_wavs=speech.keep_wavs,
        )
    if speech.engine == "openai":
        from cohost.adapters.http_speech import OpenAiSpeaker  # noqa: PLC0415 (optional engine)

        if not speech.openai_url or not speech.openai_voice:
            raise SettingsError(
                "COHOST_SPEECH__ENGINE=openai needs COHOST_SPEECH__OPENAI_URL "
                "and COHOST_SPEECH__OPENAI_VOICE"
            )
        return OpenAiSpeaker(
            clock,
            url=speech.openai_url,
            voice=speech.openai_voice,
            model=speech.openai_model,
            api_key=speech.openai_api_key,
            timeout_s=speech.http_timeout_s,
            bus=bus,
            output=speech.output,
            wav_dir=wav_dir,
            keep_wavs=speech.keep_wavs,
        )
    if shutil.which("espeak-ng") is None:
        if "engine" in speech.model_fields_set:
            raise SettingsError(
                "COHOST_SPEECH__ENGINE=espeak needs espeak-ng (Debian: apt-get install espeak-ng)"
            )
        log.warning(
            "espeak-ng is not installed, so the twin is not heard, only captioned: install it "
            "(Debian: apt-get install espeak-ng) or set COHOST_SPEECH__ENGINE=captions"
        )
        return CaptionSpeaker(clock, bus=bus)
    speaker = EspeakSpeaker(
        clock,
        voice=speech.voice,
        rate=speech.rate,
        bus=bus,
        output=speech.output,
        wav_dir=wav_dir,
        keep_wavs=speech.keep_wavs,
    )
    where = "the sound card" if speaker.output == "device" else f"WAV files in {wav_dir}"
    log.info("voice: espeak-ng to %s", where)
    return speaker


def build_transcriber(settings: Settings, *, sentences: bool = False) -> Transcriber:
    """Speech to text as the settings say: an OpenAI-compatible server (COHOST_LISTEN__URL), or
    faster-whisper here (the bundled tiny.en, or COHOST_LISTEN__MODEL). sentences: here, each
    sentence its own segment, timed by its words (a VOD's transcript)."""
    listen = settings.listen
    if listen.url:
        if not listen.url.startswith(("http://", "https://")):
            raise SettingsError(f"COHOST_LISTEN__URL: not an http(s) URL: {listen.url!r}")
        return ServerTranscriber(
            listen.url,
            model=listen.model,
            api_key=listen.api_key,
            timeout_s=listen.timeout_s,
            response_format=listen.response_format,
        )
    return WhisperTranscriber(listen.model, cpu_threads=listen.cpu_threads, sentences=sentences)


def build_listener(
    settings: Settings,
    clock: Clock,
    *,
    channel: str,
    said: Callable[[], Iterable[str]] = tuple,
    speaking: Callable[[], bool] | None = None,
    on_heard: Callable[[ChatMessage, float], None] | None = None,
) -> ListenSource:
    """The streamer's microphone heard by the speech model: a source of their spoken lines.

    COHOST_LISTEN__DEVICE names an ALSA device, or a .wav file that plays the microphone's part
    at a sound card's pace (a recording, tests). A file that is not there is a settings error;
    a device that fails is the daemon's to retry. `channel`: the session's; `said`: what the
    twin said lately; `speaking`: whether its voice plays now (`TwinVoice`).
    """
    listen = settings.listen
    streamer = login_of(settings.twitch.channel or settings.twin.streamer)
    if not streamer:
        raise SettingsError(
            "hearing the streamer needs to know who they are: set COHOST_TWIN__STREAMER"
        )
    microphone: AsyncIterable[bytes]
    if listen.device.casefold().endswith(".wav"):
        recording = Path(listen.device).expanduser()
        if not recording.is_file():
            raise SettingsError(f"COHOST_LISTEN__DEVICE: no such WAV file: {recording}")
        microphone = WavFileMicrophone(recording, realtime=True)
    else:
        microphone = ArecordMicrophone(listen.device)
    twin = settings.twin
    return ListenSource(
        microphone,
        build_transcriber(settings),
        streamer=streamer,
        channel=channel,
        twin_names=[twin.name, *twin.aliases],
        clock=clock,
        options=ListenOptions(
            threshold=listen.threshold,
            silence_s=listen.silence_s,
            max_utterance_s=listen.max_utterance_s,
            echo_similarity=listen.echo_similarity,
            mute_while_speaking=listen.mute_while_speaking,
        ),
        said=said,
        speaking=speaking or (lambda: False),
        on_heard=on_heard,
    )
