"""Typed events that move between the stages of a turn; no foreign object gets past an adapter."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal


class Role(enum.IntEnum):
    """Permission levels as streamers know them from Nightbot and Streamer.bot, lowest first."""

    EVERYONE = 0
    SUBSCRIBER = 1
    VIP = 2
    MODERATOR = 3
    BROADCASTER = 4


class Tier(enum.StrEnum):
    """Journal privacy tiers: what a recalled entry may do in a reply."""

    PUBLIC = "public"  # may be quoted
    PRIVATE = "private"  # may inform a reply, never repeated verbatim
    SECRET = "secret"  # never indexed, never recalled


# The id of a question put to the twin with `!twin ask`: a message of cohost's own, not chat's.
ASKED_ID_PREFIX = "ask:"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """One line of chat, from Twitch, a log, or the console."""

    id: str
    channel: str
    login: str  # lowercase user name
    display_name: str
    text: str
    ts: float  # seconds since the epoch, UTC (or since the start of a log that has no date)
    user_id: str = ""
    roles: frozenset[Role] = frozenset()
    badges: tuple[tuple[str, str], ...] = ()
    first_msg: bool = False
    bits: int = 0
    action: bool = False  # /me
    emote_only: bool = False  # known from the source (IRC emote ranges, rechat fragments)
    notice: str | None = None  # a sub/resub/raid notice's kind when the viewer's words came with it
    spoken: bool = False  # heard from the streamer's microphone, not typed in chat
    reply_parent_id: str | None = None
    reply_parent_login: str | None = None

    @property
    def role(self) -> Role:
        """The highest role the chatter holds."""
        return max(self.roles, default=Role.EVERYONE)

    @property
    def threadable(self) -> bool:
        """Whether a reply may thread under this message on Twitch: a chat message chat holds.

        Not `!twin ask`'s question (cohost's own, chat never held it), and not a sub or raid
        notice: Twitch threads replies under chat messages only.
        """
        return (
            bool(self.id)
            and not self.id.startswith(ASKED_ID_PREFIX)
            and self.notice is None
            and not self.spoken  # heard, never in chat
        )


UserNoticeKind = Literal[
    "sub", "resub", "subgift", "submysterygift", "raid", "announcement", "other"
]
# The notices that are a viewer supporting the stream: a sub, a resub, a gift, a raid.
SUPPORT_NOTICES: frozenset[str] = frozenset({"sub", "resub", "subgift", "submysterygift", "raid"})


@dataclass(frozen=True, slots=True, kw_only=True)
class UserNotice:
    """A USERNOTICE: subs, gifts, raids and announcements, with the user's message if any."""

    id: str
    channel: str
    kind: UserNoticeKind
    msg_id: str  # Twitch's own msg-id, kept when kind is "other"
    login: str
    display_name: str
    text: str  # the user's message ("" when none)
    system_text: str
    ts: float
    user_id: str = ""
    roles: frozenset[Role] = frozenset()
    months: int = 0
    viewers: int = 0  # raids
    recipient: str | None = None  # sub gifts
    in_community_gift: bool = False  # one sub of a community gift (which has its own notice)
    gifts: int = 0  # a community gift's size, when the source says (0: count its single gifts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Moderation:
    """CLEARCHAT (timeout, ban, whole chat cleared) or CLEARMSG (one message deleted)."""

    kind: Literal["timeout", "ban", "clear", "delete"]
    channel: str
    ts: float
    target_login: str | None = None
    target_message_id: str | None = None
    duration: int | None = None  # seconds, timeouts only
    text: str = ""  # the deleted message, CLEARMSG only


ChatEvent = ChatMessage | UserNotice | Moderation


@dataclass(frozen=True, slots=True, kw_only=True)
class Follow:
    """A viewer followed the channel (EventSub `channel.follow`; chat logs do not carry it)."""

    id: str
    channel: str
    login: str
    display_name: str
    ts: float
    user_id: str = ""


# What a live chat source brings: chat, and the stream's events that chat does not show.
SourceEvent = ChatEvent | Follow


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The picker's verdict on one message: a score with named parts and the reason."""

    message: ChatMessage
    picked: bool
    score: float
    parts: tuple[tuple[str, float], ...]
    reason: str  # a sentence a streamer can read
    category: str  # "picked", or the skip rule's short name (command, bot, stale, rate, ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """A recalled journal chunk."""

    entry_id: str
    title: str
    text: str
    score: float
    tier: Tier
    created: float = 0.0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SimLine:
    """One line of the simulated conversation."""

    speaker: str
    text: str
    is_twin: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardVerdict:
    """What the guard did to a reply: a rule's name, its action and why."""

    rule: str
    action: Literal["pass", "changed", "blocked"]
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Caption:
    """A sentence being spoken, for the overlay."""

    turn_id: str
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StageTime:
    """The start and end of one stage of a turn, in monotonic seconds."""

    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Flaw(enum.StrEnum):
    """What a model leaked into a reply (see `cohost.pipeline.quality`)."""

    PROMPT_ECHO = "prompt_echo"  # the prompt's own structure: fences, headings, instructions
    LABEL = "label"  # a speaker label ("name:") in front of a line or sentence
    RUNAWAY = "runaway"  # the model got stuck repeating itself
    TOO_LONG = "too_long"  # far longer than the twin's own lines
    CUT = "cut"  # stopped at the token or time cap mid-sentence: the unfinished end went


class Quality(enum.StrEnum):
    """What became of a reply after the quality checks."""

    CLEAN = "clean"  # no flaw: sent as the rewriter wrote it
    REPAIRED = "repaired"  # flaws taken out, a clean part kept
    FALLBACK = "fallback"  # the twin's own simulated line said instead
    SILENT = "silent"  # nothing usable: the turn said nothing


class Failure(enum.StrEnum):
    """What ended a `failed` turn; what counts failures reads this, never the reason's words."""

    TRANSIENT = "transient"  # a part was down or too slow (`Transient`): only this turn is lost
    UNEXPECTED = "unexpected"  # a bug, or an error no adapter translated


class Cancel(enum.StrEnum):
    """Why a `cancelled` turn was cut short; what decides whether its viewer may be answered
    again reads this, never the reason's words."""

    BETTER_PICK = "better_pick"  # a message more worth answering came in
    SKIP = "skip"  # `!twin skip`, or the dashboard's
    MODERATION = "moderation"  # the message being answered was deleted, or its sender banned
    SHUTDOWN = "shutdown"  # the daemon or replay is stopping
    OTHER = "other"


TurnOutcome = Literal["answered", "held", "unsent", "silent", "blocked", "cancelled", "failed"]


@dataclass(slots=True, kw_only=True)
class TurnTrace:
    """Everything one turn did and why; written as one JSON line."""

    turn_id: str
    decision: Decision
    started: float  # clock time (virtual in replay)
    window: tuple[ChatMessage, ...] = ()  # the recent chat the turn saw
    hits: list[Hit] = field(default_factory=list)
    sim_lines: list[SimLine] = field(default_factory=list)
    # What the rewriter model was given for the reply ("" without a model): the fused prompt,
    # after the privacy setting for an external rewriter. Trace files only, never the dashboard.
    prompt: str = ""
    reply: str = ""
    sent: list[str] = field(default_factory=list)  # chat messages as posted
    alternatives: list[str] = field(default_factory=list)  # other guarded candidate replies
    decided: str = ""  # what the streamer (or expiry) did with the candidates, once decided
    spoken: list[str] = field(default_factory=list)
    guard: list[GuardVerdict] = field(default_factory=list)
    stages: list[StageTime] = field(default_factory=list)
    outcome: TurnOutcome = "silent"
    reason: str = ""
    quality: Quality | None = None  # None: no reply was reviewed (no twin line, a failure)
    flaws: list[Flaw] = field(default_factory=list)  # what the review found, each once
    failure: Failure | None = None  # what kind of failure, when the outcome is `failed`
    cancelled_by: Cancel | None = None  # why, when the outcome is `cancelled`


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What Twitch said about one message."""

    is_sent: bool
    message_id: str | None = None
    drop_reason: str | None = None
