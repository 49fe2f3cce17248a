"""The picker: which chat messages the twin answers, as a score with named parts and a reason.

`Picker.decide` is pure: a function of the message, the recent window, what has been answered
(`AnswerMemory`), the time and the settings. Rules are checked in this order, first match wins:

1. never answered, whoever asks: `stale` (older than `freshness_s`), `bot` (known bots, extra
   bots and the bot's own login, so the twin never answers itself), `command` (`!…`), `ignored`;
2. spam, for everyone but the streamer: `link_only` (only URLs and @mentions), `emote_only`
   (the source says so, or every token is emote-like: a known emote, a channel-emote or
   CamelCase code like forsenParty or PogChamp, or bare symbols and emoji; ALL-CAPS words are
   not emotes), `copypasta` (the same text, compared by its first 64 lowercased letters and
   digits, already `copypasta_repeats - 1` times in the window; or repetitive in itself: one
   phrase over and over, one token woven through the line, mostly emotes, long and repetitive),
   `botlike` (a music bot's "Now playing", follower-selling spam: `botlike_patterns`);
3. `advert`, for everyone but the streamer: a link from a moderator or VIP not to the twin, a
   link beside an invitation ("join", "follow", "use code"), a link to the sender's own page;
4. `streamer`: the streamer (their login or the broadcaster role) talking, but not to the twin;
5. for everyone but the streamer: `troll` (a lewd word, or an insult aimed at someone here:
   "your getting fat"), `repeat` (the viewer says again what the twin answered them within
   `repeat_window_s`);
6. scoring; below the threshold is `low_score`. A question counts by its grammar, clause by
   clause (`question`); a '?' on a bare noun phrase is a guess or a quip (`echo_question`,
   less); a question followed by a laugh, one that answers itself ("what is this, amateur
   hour?"), one about oneself ("what am I doing with my life") and a reaction without '?'
   ("what is happening") are none. A call to the streamer needs two words besides the name
   ("YES DK" is a cheer). A first visit said in words and a report that something is wrong
   with the stream ("can't hear you") score on their own;
7. rate rules, for messages that would be picked: `rate` (replies in the last 60 s),
   `gap` (since the last reply), `cooldown` (per viewer), `duplicate` (a near-duplicate of a
   question answered within `duplicate_window_s`).

Policy: the streamer addressing the twin bypasses the rules in 2, 3, 5 and 7: the co-host
answers its host even when chat has used up the budget. Nobody bypasses the rules in 1.

Cost: the copypasta check is O(window) with each text's key computed once and cached, so the
caller passes its plain window (a deque) and maintains nothing else.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from cohost.core.events import SUPPORT_NOTICES, ChatMessage, Decision, Role
from cohost.core.options import PickerSettings, TwinSettings
from cohost.text.fold import alnum_key, word_set

RATE_WINDOW_S = 60.0
TOPIC_CAP = 2  # topic words counted at most this often (PickerSettings.weight_topic says so)
SUBSTANCE_WORDS = 5  # "some substance" (PickerSettings.weight_length says 5+ words)
COPYPASTA_KEY_CHARS = 64  # texts equal in their first 64 letters/digits are the same paste
_KEY_CACHE_MAX = 8192  # normalised keys of recent texts; cleared when full (chat moves on)
_SCORED_MAX = 4096  # combinations of parts (only live topic words make new ones)

# Known emote names for the emote-only check, on top of PickerSettings.emotes: Twitch globals
# and the most used BTTV/FFZ/7TV ones. Matched case-sensitively, as chat renders them.
_BUILTIN_EMOTES_TEXT = """
Kappa Keepo KappaPride Kreygasm LUL PogChamp BibleThump DansGame EleGiggle FailFish FrankerZ
HeyGuys Jebaited MingLee NotLikeThis OpieOP PJSalt ResidentSleeper SeemsGood SMOrc SwiftRage
TriHard VoHiYo WutFace BabyRage BloodTrail CoolStoryBob cmonBruh 4Head CoolCat PunOko
TwitchUnity HSWP GivePLZ TakeNRG BOP DxCat PopCorn LULW KEKW OMEGALUL Pog PogU POGGERS Poggers
PogO monkaS monkaW monkaH FeelsBadMan FeelsGoodMan FeelsOkayMan FeelsStrongMan FeelsWeirdMan
PepeHands PepeLaugh Pepega Sadge Copium COPIUM Clap EZ gachiGASM forsenE xdd xqcL catJAM
peepoHappy peepoSad widepeepoHappy Aware Okayge ICANT Stare Susge NODDERS NOPERS WAYTOODANK KEKL
LETSGO ppL GIGACHAD Chatting Deadge Bedge Smadge Madge ratJAM pepeD pepeJAM Kapp haHAA TriKool
HYPERS <3 :) :( :D :P :O ;) ;P :/ :| xD XD o_O O_o B) R)
"""
BUILTIN_EMOTES = frozenset(_BUILTIN_EMOTES_TEXT.split())

# Twitch channel emotes are a lowercase prefix and a capitalised name (forsenParty, moon2MLADY,
# tyler1Sleeper); many global and third-party ones are CamelCase (PogChamp, FeelsBadMan,
# OpieOP). A token of that shape counts as an emote. ALL-CAPS words do not (LOL, WHAT, WR are
# words people shout), unless they are known emotes.
_EMOTE_SHAPE = re.compile(r"[a-z][a-z0-9]{1,9}[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*")
_HAS_WORD = re.compile(r"\w")
_LINK = re.compile(r"<?(?:https?://|www\.)\S+|(?:[\w-]+\.)+[a-z]{2,}/\S*", re.IGNORECASE)
_CHEER = re.compile(r"(?<!\S)cheer\d+(?!\S)", re.IGNORECASE)
_EDGE_PUNCT = "\"'`.,:;!?¿¡()[]{}<>*~_-…“”‘’"

# Questions by grammar: a question word that opens a clause ("what is", "how do", "wtf is"),
# or an auxiliary followed by its subject ("is it", "can you", "does anyone"). A first word
# alone is not enough: "has to be on prime tho", "can't wait", "might be lag" are statements.
_WH_WORDS_TEXT = """
who whos who's whom whose what whats what's which when whens when's where wheres where's why
whys why's how hows how's wtf
"""
WH_WORDS = frozenset(_WH_WORDS_TEXT.split())
_AUXILIARIES_TEXT = """
do does did don't doesn't didn't dont doesnt didnt is isn't isnt are aren't arent was wasn't
wasnt were weren't werent am can can't cant could couldn't would wouldn't should shouldn't will
won't wont shall have has had haven't hasn't may might must
"""
AUXILIARIES = frozenset(_AUXILIARIES_TEXT.split())
_SUBJECTS_TEXT = """
i you u ya we he she it they this that these those there anyone anybody someone somebody
everyone everybody chat the your ur his her my our their
"""
SUBJECTS = frozenset(_SUBJECTS_TEXT.split())
# what a wh-word is followed by when it opens a question ("what a save" is not one)
_WH_NEXT_TEXT = """
happened happens happening time kind type sort game song about if up long many much often old
far one ones else
"""
WH_NEXT = AUXILIARIES | frozenset(_WH_NEXT_TEXT.split())
_ANYONE_NEXT_TEXT = """
know knows have has got else here remember seen tried played
"""
ANYONE_NEXT = frozenset(_ANYONE_NEXT_TEXT.split())
QUESTION_MAX_CHARS = 110  # chat asks in a line; prose pastas ask in paragraphs
QUESTION_WORDS = WH_WORDS | AUXILIARIES  # kept for callers that list them
_WORD_BEFORE_QUESTION_MARK = re.compile(r"\w[\"')\]]*\s?\?")
# Twitch's own line for a sub when a log writes it as chat (tcd, plain text exports).
_SUB_LINE = re.compile(
    r"\w+ (?:subscribed (?:at Tier \d|with (?:Twitch )?Prime)|is gifting \d+|gifted a)",
    re.IGNORECASE,
)
_MENTION = re.compile(r"@([A-Za-z0-9_]{2,25})")
# A question followed by a laugh is a joke told to chat, not a question to answer.
_LAUGH_TEXT = """
lul lule lulw kekw kek omegalul lol lmao lmfao rofl haha hahaha xd kappa keepo 4head pepelaugh
"""
LAUGHS = frozenset(_LAUGH_TEXT.split())
_SECOND_PERSON = frozenset({"you", "your", "you're", "youre", "ur", "u", "ya", "yours"})
# Words that may open a clause before its question word: "so what happened", "and what?",
# "oh wait, is it over". They are skipped when a clause is read for its grammar.
_OPENERS_TEXT = "and but so oh ok okay wait also btw yo hey bro um uh well then like ah"
_CLAUSE_OPENERS = frozenset(_OPENERS_TEXT.split())
# A clause ends at punctuation, or before a capitalised question word ("DOCING What is this
# game about"): chat seldom punctuates, but it does capitalise the start of what it asks.
_CLAUSE_END = frozenset(".!?;,…")
_CAPITAL_WH_TEXT = "What Whats What's Why How Hows How's Who Whos Who's Where When Which Wtf WTF"
_CAPITAL_WH = frozenset(_CAPITAL_WH_TEXT.split())
# "what is this, amateur hour?": a question that answers itself is a quip.
_QUIP = re.compile(
    r"^\W*(?:so\s+)?wh?at(?:'s|’s|\s+is|\s+are)\s+(?:this|that|these|those|it|he|she|they|we|you)"
    r"\s*[,:\u2013\u2014-]+\s*\w[^?]*\?",
    re.IGNORECASE,
)
# Questions about oneself that want no answer: "what am I doing with my life", "why do I
# even try". "how do I join", "what do I do", "what did I miss" stay questions.
_SELF_RHETORICAL = frozenset(
    {
        ("what", "am"),
        ("what", "have"),
        ("why", "am"),
        ("why", "do"),
        ("why", "did"),
        ("why", "have"),
        ("why", "was"),
    }
)
# What "is it a ...?" points at: the thing on screen.
_DEICTIC = frozenset({"it", "that", "this"})
# Contracted auxiliaries: "there's", "we're", "they've", "it'll", "you'd", "isn't".
_CONTRACTIONS = ("'s", "'re", "'ve", "'ll", "'d", "'m", "n't")
# Who a question to the room opens with: "anyone know ...", "anything happen while I was gone?"
_SOMEONE = frozenset({"anyone", "anybody", "anything", "someone", "somebody"})
# A tag question's auxiliary: "..., weren't they?", "..., isn't it?"
_TAG_TEXT = """
isn't isnt aren't arent wasn't wasnt weren't werent don't dont doesn't doesnt didn't didnt can't
cant won't wont wouldn't wouldnt shouldn't shouldnt haven't havent hasn't hasnt
"""
_TAG_AUXILIARIES = frozenset(_TAG_TEXT.split())
# With no '?', these are reactions to the screen, not questions: "WHAT THE FUCK IS HAPPENING".
_EXCLAIMED = frozenset(
    {("is", "happening"), ("happening",), ("is", "going", "on"), ("going", "on"), ("was", "that")}
)
# A first visit, said in words: "first time here", "this is my first stream", "1st time watching".
_FIRST_VISIT = re.compile(
    r"\bmy (?:first|1st) (?:time|live|stream|visit)\b"
    r"|\b(?:first|1st) time (?:here|watching|catching|chatting|seeing|"
    r"in (?:chat|here|the stream))\b",
    re.IGNORECASE,
)
# A viewer telling the stream something is wrong with it: what a co-host passes on at once.
_STREAM_ISSUE = re.compile(
    r"\b(?:can'?t|cannot|can not|couldn'?t)\s+(?:hear|see)\s+(?:you|u|us|the|your|him|her|them|it|"
    r"anything|a thing)\b"
    r"|\b(?:no|zero)\s+(?:sound|audio|game audio|mic|voice)\b"
    r"|\b(?:mic|audio|sound|stream|camera|cam|screen|discord|voice|volume)\s+(?:is\s+|'s\s+)?"
    r"(?:muted|off|down|frozen|lagging|laggy|cutting out|desynced|out of sync|black|dead|"
    r"too quiet|too loud|crackling|peaking|clipping|echoing)\b"
    r"|\byou(?:'re|re| are)\s+(?:muted|frozen|lagging|cutting out)\b"
    r"|\b(?:black|frozen)\s+screen\b",
    re.IGNORECASE,
)
# One of these words is in every line _STREAM_ISSUE finds: a cheap test before the expression.
_ISSUE_WORDS_TEXT = """
hear see sound audio mic voice stream camera cam screen discord volume muted frozen lagging cutting
"""
_STREAM_ISSUE_WORDS = frozenset(_ISSUE_WORDS_TEXT.split())
# A link beside an invitation is an advert, whoever posts it ("join our discord", "use code").
_INVITE = re.compile(
    r"\b(?:join|follow|subscribe|sub to|donate|visit|go to|head (?:over )?to|check out|"
    r"sign up|use (?:my |the |our )?code|promo code|discount|merch|giveaway)\b",
    re.IGNORECASE,
)
_GREETINGS = frozenset({"hi", "hey", "hello", "yo", "hiya", "thanks", "thank", "ty", "bye"})
_SWEARS = frozenset({"fuck", "hell", "heck", "frick"})


def _guessed(rest: list[str]) -> bool:
    """After "is it" / "can that": an indefinite noun phrase ("a cat", "be an otter"). A
    guess at what something is, as chat plays along; "is that the one from ..." asks."""
    if rest and rest[0] in ("be", "just"):
        rest = rest[1:]
    return bool(rest) and rest[0] in ("a", "an")


def _finite(word: str) -> bool:
    """A word that makes a clause a sentence: an auxiliary, a contracted one, a past tense."""
    return (
        word in AUXILIARIES
        or word.endswith(_CONTRACTIONS)
        or (len(word) >= 4 and word.endswith("ed") and not word.endswith("eed"))
    )


class AnswerMemory:
    """What the twin has answered: bounded by count and by age, so it stays flat over hours.

    Call `record` when the twin answers (or commits to answering) a message. Build it with
    `for_settings` so it remembers as long as the longest rule looks back.
    """

    __slots__ = ("_by_user", "_horizon_s", "_max_entries", "_replies")

    def __init__(self, *, horizon_s: float = 300.0, max_entries: int = 1024) -> None:
        self._horizon_s = horizon_s
        self._max_entries = max(1, max_entries)
        # (time, login, lowercase word set of the text), oldest first
        self._replies: deque[tuple[float, str, frozenset[str]]] = deque(maxlen=self._max_entries)
        # login -> time of the last reply to them, oldest first
        self._by_user: OrderedDict[str, float] = OrderedDict()

    @classmethod
    def for_settings(cls, settings: PickerSettings, *, max_entries: int = 1024) -> AnswerMemory:
        """A memory that looks back as far as the picker's rules need."""
        horizon = max(
            RATE_WINDOW_S,
            settings.user_cooldown_s,
            settings.duplicate_window_s,
            settings.repeat_window_s,
        )
        return cls(horizon_s=horizon, max_entries=max_entries)

    def record(self, message: ChatMessage, now: float) -> None:
        """Remember that `message` was answered at `now`."""
        self._replies.append((now, message.login, word_set(message.text)))
        users = self._by_user
        users[message.login] = now
        users.move_to_end(message.login)
        cutoff = now - self._horizon_s
        while users:
            ts = next(iter(users.values()))
            if ts >= cutoff and len(users) <= self._max_entries:
                break
            users.popitem(last=False)
        replies = self._replies
        while replies and replies[0][0] < cutoff:
            replies.popleft()

    def withdraw(self, message: ChatMessage, at: float) -> None:
        """Forget the answer to `message` recorded at `at`: the twin never gave it after all."""
        try:
            self._replies.remove((at, message.login, word_set(message.text)))
        except ValueError:
            return  # already aged out
        users = self._by_user
        if users.get(message.login) != at:
            return  # answered again since
        del users[message.login]
        for ts, login, _ in reversed(self._replies):
            if login == message.login:
                # the answer before stands (out of age order here: it is pruned a little
                # late, and the count bound holds)
                users[login] = ts
                break

    def __len__(self) -> int:
        return len(self._replies)

    @property
    def users(self) -> int:
        """How many viewers' last reply times are remembered."""
        return len(self._by_user)

    @property
    def last_reply_at(self) -> float | None:
        """When the twin last answered anyone."""
        return self._replies[-1][0] if self._replies else None

    def last_reply_to(self, login: str) -> float | None:
        """When the twin last answered this viewer (forgotten past the horizon)."""
        return self._by_user.get(login)

    def replies_within(self, now: float, seconds: float) -> int:
        """How many replies fall in (now - seconds, now]."""
        cutoff = now - seconds
        count = 0
        for ts, _, _ in reversed(self._replies):
            if ts <= cutoff:
                break
            count += 1
        return count

    def repeated(self, login: str, text: str, since: float, similarity: float) -> bool:
        """Whether this viewer was answered at or after `since` for (nearly) this text."""
        last = self._by_user.get(login)
        if last is None or last < since:
            return False  # most viewers were never answered: no need to read the words
        words = word_set(text)
        if not words:
            return False
        for ts, who, answered in reversed(self._replies):
            if ts < since:
                return False
            if who == login and _jaccard(words, answered) >= similarity:
                return True
        return False

    def answered_since(self, since: float) -> Iterator[tuple[float, frozenset[str]]]:
        """(time, lowercase word set) of answers at or after `since`, newest first."""
        for ts, _, words in reversed(self._replies):
            if ts < since:
                return
            yield ts, words


def _jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


_BROADCASTER = Role.BROADCASTER  # enum attribute lookups are slow on the hot path


def _skip(message: ChatMessage, category: str, why: str) -> Decision:
    return Decision(
        message=message,
        picked=False,
        score=0.0,
        parts=(),
        reason=f"Skipped ({category}): {why}.",
        category=category,
    )


class Picker:
    """Scores chat messages and decides which ones the twin answers.

    Settings are read once, here: build a new Picker when they change. Live `!twin` overrides
    are arguments of `decide`.
    """

    def __init__(self, settings: PickerSettings, twin: TwinSettings) -> None:
        self.settings = settings
        self.twin = twin
        names = [n.strip().lower() for n in (twin.name, *twin.aliases) if n.strip()]
        names.sort(key=len, reverse=True)  # longest first, so "twin bot" wins over "twin"
        self._names = tuple(names)
        # Searched in the lowercased text, so no IGNORECASE (which is slower).
        self._address: re.Pattern[str] | None = (
            re.compile(r"(?<![\w@])@?(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)")
            if names
            else None
        )
        self._name_words = frozenset(w for n in names for w in word_set(n))
        self._address_tokens = frozenset(names) | frozenset("@" + n for n in names)
        self._bot_login = twin.bot_login.strip().lower().lstrip("@")
        bots = (*settings.known_bots, *settings.extra_bots)
        self._bots = frozenset(b.strip().lower().lstrip("@") for b in bots) | (
            {self._bot_login} if self._bot_login else frozenset()
        )
        self._botlike: re.Pattern[str] | None = (
            re.compile("|".join(f"(?:{p})" for p in settings.botlike_patterns), re.IGNORECASE)
            if settings.botlike_patterns
            else None
        )
        self._lewd = frozenset(w.strip().lower() for w in settings.lewd_words if w.strip())
        self._taunts = frozenset(w.strip().lower() for w in settings.taunt_words if w.strip())
        self._ignored = frozenset(u.strip().lower().lstrip("@") for u in settings.ignored_users)
        self._streamer = twin.streamer.strip().lower().lstrip("@")
        streamer_names = [self._streamer, *(n.strip().lower() for n in settings.streamer_nicknames)]
        streamer_names = sorted({n for n in streamer_names if n}, key=len, reverse=True)
        self._streamer_address: re.Pattern[str] | None = (
            re.compile(
                r"(?<![\w@])@?(?:" + "|".join(re.escape(n) for n in streamer_names) + r")(?!\w)"
            )
            if streamer_names
            else None
        )
        # the streamer's names as words: "DK, is it ..." is read from "is"
        self._streamer_words = frozenset(w for n in streamer_names for w in n.split())
        # words that aim an insult at someone here: you, your, the twin's or streamer's name
        self._aimed = _SECOND_PERSON | self._name_words | self._streamer_words
        # logins a message may @mention without talking to someone else
        self._own_mentions = frozenset(
            {self._streamer, self._bot_login, *(n.replace(" ", "") for n in names)} - {""}
        )
        self._topic = tuple(dict.fromkeys(w.strip().lower() for w in settings.topic_words if w))
        self._emotes = BUILTIN_EMOTES | frozenset(settings.emotes)
        self._keys: dict[str, str] = {}
        self._live_topics: dict[tuple[str, ...], tuple[str, ...]] = {}
        # Settings copied into plain attributes: pydantic attribute access costs more.
        self._freshness_s = settings.freshness_s
        self._threshold = settings.threshold
        self._repeats = settings.copypasta_repeats
        self._repeat_s = settings.repeat_window_s
        self._duplicate_similarity = settings.duplicate_similarity
        self._direct = ("direct", settings.weight_direct)
        self._broadcaster = ("broadcaster", settings.weight_broadcaster)
        self._question = ("question", settings.weight_question)
        self._echo = ("echo_question", settings.weight_echo_question)
        self._first_visit = ("first_visit", settings.weight_first_visit)
        self._stream_issue = ("stream_issue", settings.weight_stream_issue)
        self._first_time = ("first_time", settings.weight_first_time)
        self._bits = ("bits", settings.weight_bits)
        self._support = ("support", settings.weight_support)
        self._substance = ("substance", settings.weight_length)
        self._other = ("to_someone_else", settings.weight_other_mention)
        self._to_streamer = ("to_streamer", settings.weight_to_streamer)
        self._weight_topic = settings.weight_topic
        self._role_parts = (
            (Role.MODERATOR, ("moderator", settings.weight_moderator)),
            (Role.VIP, ("vip", settings.weight_vip)),
            (Role.SUBSCRIBER, ("subscriber", settings.weight_subscriber)),
        )
        # Formatting floats is the slowest part of a reason: do it once for the fixed parts.
        fixed = [self._direct, self._broadcaster, self._question, self._first_time, self._bits]
        fixed += [self._echo, self._first_visit, self._stream_issue]
        fixed.append(self._support)
        fixed += [self._substance, self._other, self._to_streamer]
        fixed += [part for _, part in self._role_parts]
        self._labels = {name: f"{name} {value:+g}" for name, value in fixed}
        self._nothing = f"Not picked: nothing scored (the threshold is {self._threshold:g})."
        self._threshold_text = f"{self._threshold:g}"
        self._scored: dict[tuple[tuple[str, float], ...], tuple[float, str, str | None]] = {}

    def decide(
        self,
        message: ChatMessage,
        *,
        window: Sequence[ChatMessage],
        memory: AnswerMemory,
        now: float,
        topic_words: Sequence[str] = (),
        ignored: AbstractSet[str] = frozenset(),
        rate_per_minute: int | None = None,
        freshness_s: float | None = None,
    ) -> Decision:
        """The verdict on one message.

        `window` is recent chat; the message itself may or may not be in it (it is skipped by
        identity). `topic_words`, `ignored` (lowercase logins) and `rate_per_minute` are live
        overrides from `!twin` commands, added to (or, for the rate, replacing) the settings.
        `freshness_s` replaces the setting for a question that waited for chat to calm.
        """
        text = message.text
        login = message.login

        age = now - message.ts
        fresh = self._freshness_s if freshness_s is None else freshness_s
        if age > fresh:
            return _skip(message, "stale", f"it is {age:.0f} s old (the limit is {fresh:g} s)")
        if login in self._bots:
            if login == self._bot_login:
                return _skip(message, "bot", "it is the twin's own message")
            return _skip(message, "bot", f"{login} is a known bot")
        stripped = text.lstrip()
        if stripped.startswith("!"):
            return _skip(message, "command", "it is a chat command")
        if login in self._ignored or login in ignored:
            return _skip(message, "ignored", f"{login} is on the ignore list")

        roles = message.roles
        streamer = (login == self._streamer and bool(login)) or _BROADCASTER in roles
        tokens = stripped.split()
        if not streamer:
            # Spam first: it is most of a busy chat, and cheaper to spot than an address.
            spam = self._spam(message, tokens, window)
            if spam is not None:
                return _skip(message, spam[0], spam[1])
        lower = text.lower()
        # Links are left out of the address check: a channel's own pages (its Discord, its
        # subscribe page) carry the streamer's or twin's name without speaking to them.
        has_link = ("." in text or "<" in text) and _LINK.search(text) is not None
        spoken = _LINK.sub(" ", lower) if has_link else lower
        addressed = self._addressed(message, spoken)
        if has_link and not streamer:
            advert = self._advert(message, addressed=addressed)
            if advert is not None:
                return _skip(message, "advert", advert)
        if streamer and not addressed:
            return _skip(message, "streamer", "the streamer is talking, but not to the twin")
        # Past this point `streamer` means the streamer addressing the twin.
        words, clauses = self._read(tokens)
        if not streamer:
            troll = self._troll(words)
            if troll is not None:
                return _skip(message, "troll", troll)
            if memory.repeated(login, text, now - self._repeat_s, self._duplicate_similarity):
                return _skip(message, "repeat", f"{login} said this before and was answered")

        parts: list[tuple[str, float]] = []
        if addressed:
            parts.append(self._direct)
            if streamer:
                parts.append(self._broadcaster)
        to_other = not addressed and self._to_someone_else(message, tokens)
        to_streamer = (
            not addressed
            and not to_other
            and self._calls_streamer(spoken)
            and self._says_something(words)
        )
        if to_streamer:
            parts.append(self._to_streamer)
        asks = self._question_kind(text, tokens, words, clauses)
        question = asks == "question"
        if question:
            parts.append(self._question)
        elif asks == "echo":
            parts.append(self._echo)
        if roles:
            for role, part in self._role_parts:
                if role in roles:
                    parts.append(part)
                    break
        if message.first_msg:
            parts.append(self._first_time)
        if ("first" in lower or "1st" in lower) and _FIRST_VISIT.search(text) is not None:
            parts.append(self._first_visit)
        if (
            not to_other
            and not _STREAM_ISSUE_WORDS.isdisjoint(words)
            and _STREAM_ISSUE.search(text) is not None
        ):
            parts.append(self._stream_issue)
        if message.bits > 0 or ("cheer" in lower and _CHEER.search(text) is not None):
            parts.append(self._bits)
        if message.notice in SUPPORT_NOTICES or (
            message.notice is None
            and ("subscribed" in lower or "gift" in lower)
            and _SUB_LINE.match(stripped) is not None
        ):
            parts.append(self._support)
        topic = self._topic
        if topic_words:
            topic = self._merged_topic(topic_words)
        if topic:
            hits = self._topic_hits(lower, topic)
            if hits:
                parts.append(("topic", self._weight_topic * hits))
        if len(tokens) >= SUBSTANCE_WORDS:
            parts.append(self._substance)
        if to_other:
            parts.append(self._other)

        if not parts and self._threshold > 0.0:
            return Decision(
                message=message,
                picked=False,
                score=0.0,
                parts=(),
                reason=self._nothing,
                category="low_score",
            )
        frozen = tuple(parts)
        # Few combinations of parts ever occur: their sum and wording are worked out once each.
        scored = self._scored.get(frozen)
        if scored is None:
            scored = self._score(frozen)
        score, explained, below = scored
        if below is not None:
            return Decision(
                message=message,
                picked=False,
                score=score,
                parts=frozen,
                reason=below,
                category="low_score",
            )

        if streamer:
            bypass = "; the streamer asked, so rate limits do not apply"
        else:
            # Checked here, on what would be answered, rather than on every line: the patterns
            # are the slowest test, and a bot's line rarely scores.
            if self._botlike is not None and self._botlike.search(text) is not None:
                return _skip(
                    message, "botlike", "a music bot's line or an advert (botlike_patterns)"
                )
            held = self._held(
                message,
                lower=lower,
                question=question,
                memory=memory,
                now=now,
                rate_per_minute=rate_per_minute,
            )
            if held is not None:
                return Decision(
                    message=message,
                    picked=False,
                    score=score,
                    parts=frozen,
                    reason=f"Held back: {held[1]}; score {score:g} ({explained}).",
                    category=held[0],
                )
            bypass = ""
        return Decision(
            message=message,
            picked=True,
            score=score,
            parts=frozen,
            reason=(
                f"Picked: score {score:g} reaches {self._threshold_text} ({explained}){bypass}."
            ),
            category="picked",
        )

    def _score(self, parts: tuple[tuple[str, float], ...]) -> tuple[float, str, str | None]:
        """The score of these parts, their wording, and the reason when it is below threshold."""
        if not parts:
            score = 0.0
        elif len(parts) == 1:
            score = parts[0][1]
        else:
            score = 0.0
            for _, value in parts:
                score += value
            score = round(score, 6)  # 0.6 + 0.1 + 0.2 should read 0.9
        labels = self._labels
        explained = (
            ", ".join([labels.get(name) or f"{name} {value:+g}" for name, value in parts])
            or "nothing scored"
        )
        below: str | None = None
        if score < self._threshold - 1e-9:
            below = f"Not picked: score {score:g} is below {self._threshold_text} ({explained})."
        if len(self._scored) >= _SCORED_MAX:
            self._scored.clear()
        scored = (score, explained, below)
        self._scored[parts] = scored
        return scored

    def _addressed(self, message: ChatMessage, lower: str) -> bool:
        for name in self._names:
            # A plain substring test first: the word-boundary regex is ten times slower.
            if name in lower:
                if self._address is not None and self._address.search(lower) is not None:
                    return True
                break
        parent = message.reply_parent_login
        return parent is not None and bool(self._bot_login) and parent.lower() == self._bot_login

    def key(self, text: str) -> str:
        """The copypasta key of a text: its letters and digits, lowercased, first 64 of them."""
        keys = self._keys
        found = keys.get(text)
        if found is None:
            if len(keys) >= _KEY_CACHE_MAX:
                keys.clear()
            found = alnum_key(text)[:COPYPASTA_KEY_CHARS]
            keys[text] = found
        return found

    def is_emote(self, token: str) -> bool:
        """Known emote, emote-shaped code, or a token without letters or digits (emoji, art)."""
        if token in self._emotes:
            return True
        if token.islower() or token.isupper():
            return False  # plain words and shouting; also the fast path for most tokens
        return _EMOTE_SHAPE.fullmatch(token) is not None or _HAS_WORD.search(token) is None

    def _spam(
        self,
        message: ChatMessage,
        tokens: list[str],
        window: Sequence[ChatMessage],
    ) -> tuple[str, str] | None:
        if not tokens:
            return "emote_only", "it is empty"
        first = tokens[0]
        if (first.startswith("@") or ("." in first and _LINK.fullmatch(first) is not None)) and (
            all(t.startswith("@") or _LINK.fullmatch(t) is not None for t in tokens)
            and any(not t.startswith("@") for t in tokens)
        ):
            return "link_only", "it is only a link"
        if message.emote_only:
            return "emote_only", "it is only emotes"
        # is_emote, inlined: this loop and the one below see every token of busy chat.
        emotes = self._emotes
        shape = _EMOTE_SHAPE.fullmatch
        has_word = _HAS_WORD.search
        emote_count = 0
        for token in tokens:
            if token in emotes or (
                not (token.islower() or token.isupper())
                and (shape(token) is not None or has_word(token) is None)
            ):
                emote_count += 1
            else:
                break
        else:
            return "emote_only", "it is only emotes"

        n = len(tokens)
        if n >= 6:
            distinct = len(set(tokens))
            # One short phrase over and over ("BAN COUCH GUY BAN COUCH GUY ...").
            if distinct * 3 <= n:
                return "copypasta", "it repeats one phrase over and over"
            # Long text that is mostly repeats.
            if distinct * 2 <= n and len(message.text) >= 200:
                return "copypasta", "it is long and repetitive"
            # One token woven through a line ("IM Kappa NOT Kappa SUBBED Kappa ...",
            # "mmm OpieOP idk OpieOP ..."): it shows up among the first two tokens. An emote
            # needs a quarter of the line, any other word a third and four times.
            need = max(3, (n + 3) // 4)
            for token in (first, tokens[1]):
                count = tokens.count(token)
                if count >= need and ((count >= 4 and count * 3 >= n) or self.is_emote(token)):
                    return "copypasta", f"{token} is woven through it {count} times"
            # Mostly emotes, a few words between them ("naroGold CUTE naroWOW LITTLE ...").
            # The loop above stopped at the first word; count on from there.
            for token in tokens[emote_count + 1 :]:
                if token in emotes or (
                    not (token.islower() or token.isupper())
                    and (shape(token) is not None or has_word(token) is None)
                ):
                    emote_count += 1
            if emote_count * 2 >= n:
                return "copypasta", f"{emote_count} of its {n} words are emotes"

        repeats = self._repeats
        if repeats > 1:
            key = self.key(message.text)
            if key:
                need = repeats - 1  # this message is one of the copies
                seen = 0
                known = self._keys.get
                for other in window:
                    if other is message:
                        continue
                    other_key = known(other.text)
                    if other_key is None:
                        other_key = self.key(other.text)
                    if other_key == key:
                        seen += 1
                        if seen >= need:
                            return "copypasta", f"the same text is in recent chat {seen + 1} times"
        return None

    def _to_someone_else(self, message: ChatMessage, tokens: list[str]) -> bool:
        """Chat talking among itself: a reply to someone else, or an @someone else."""
        parent = message.reply_parent_login
        if parent is not None and parent.lower() not in self._own_mentions:
            return True
        if "@" not in message.text:
            return False
        return any(
            m.group(1).lower() not in self._own_mentions
            for token in tokens
            if token.startswith("@") and (m := _MENTION.match(token)) is not None
        )

    def _calls_streamer(self, spoken: str) -> bool:
        """The streamer spoken to (not of): `@name`, `name, …`, `… name`, `hey name`, or their
        name with a `you` ("DK, your weeb is showing"; not "DK is right", "in before adum…")."""
        pattern = self._streamer_address
        if pattern is None:
            return False
        found = pattern.search(spoken)
        if found is None:
            return False
        if found.group().startswith("@"):
            return True
        before = spoken[: found.start()].split()
        after = spoken[found.end() :]
        if not before and after[:1] in (",", ":", "!", "?"):
            return True
        if not after.strip(" .!?~"):
            return True  # the last word
        if before and before[-1].strip(",.!") in _GREETINGS:
            return True
        return not _SECOND_PERSON.isdisjoint(w.strip(",.!?") for w in spoken.split())

    def _read(self, tokens: list[str]) -> tuple[list[str], list[tuple[int, int, bool]]]:
        """The words of a message (no emotes, mentions, links or bare punctuation), lowercased,
        and its clauses as (start, end, asked) ranges of them: a clause ends at punctuation
        (`asked` when it holds a '?') or before a capitalised question word."""
        words: list[str] = []
        clauses: list[tuple[int, int, bool]] = []
        start = 0
        emotes = self._emotes
        shape = _EMOTE_SHAPE.fullmatch
        has_word = _HAS_WORD.search
        for token in tokens:
            core = token.strip(_EDGE_PUNCT)
            if core in _CAPITAL_WH and len(words) > start:
                clauses.append((start, len(words), False))
                start = len(words)
            if token[0] == "@" or (
                ("." in token or ":" in token) and _LINK.fullmatch(token) is not None
            ):
                continue  # a mention or a link: no word, and its dots end nothing
            if not (
                token in emotes
                or (
                    not (token.islower() or token.isupper())
                    and (shape(token) is not None or has_word(token) is None)
                )
            ):
                word = core.lower().replace("’", "'")
                if word and has_word(word) is not None:
                    words.append(word)
            if len(core) < len(token):
                trail = token[len(token.rstrip(_EDGE_PUNCT)) :]
                asked = "?" in trail
                if asked or not _CLAUSE_END.isdisjoint(trail):
                    if len(words) > start:
                        clauses.append((start, len(words), asked))
                        start = len(words)
                    elif asked and clauses and not clauses[-1][2]:
                        clauses[-1] = (clauses[-1][0], clauses[-1][1], True)  # "what now ?"
        if len(words) > start:
            clauses.append((start, len(words), False))
        return words, clauses

    def _advert(self, message: ChatMessage, *, addressed: bool) -> str | None:
        """Why a message with a link is an advert, or None: a moderator's or VIP's link not to
        the twin (their timers, the channel's Discord), a link beside an invitation (join,
        follow, use code), or a link to the sender's own page (self-promotion)."""
        roles = message.roles
        if not addressed and (Role.MODERATOR in roles or Role.VIP in roles):
            return "a moderator's link or announcement (bot-like)"
        text = message.text
        if _INVITE.search(text) is not None:
            return "a link beside an invitation (join, follow, use code ...)"
        login = message.login.lower()
        if len(login) >= 4:
            for link in _LINK.finditer(text):
                if login in link.group().lower():
                    return "a link to the sender's own page (self-promotion)"
        return None

    def _troll(self, words: list[str]) -> str | None:
        """Why the message is a troll's, or None: a lewd word, or an insult aimed at someone
        here (`you`, `your`, the twin's or streamer's name within three words before it).
        Answering either feeds it."""
        if not words:
            return None
        lewd = self._lewd
        taunts = self._taunts
        aimed = self._aimed
        for i, word in enumerate(words):
            if word in lewd:
                return f"a lewd word ({word!r}): answering feeds the troll"
            if word in taunts and not aimed.isdisjoint(words[max(0, i - 3) : i]):
                return f"an insult aimed at someone here ({word!r}): answering feeds the troll"
        return None

    def _says_something(self, words: list[str]) -> bool:
        """More than a one-word cheer besides the names: "YES DK", "gg adum" want no reply."""
        names = self._streamer_words
        said = 0
        for word in words:
            if word not in names and word.lstrip("@") not in names:
                said += 1
                if said >= 2:
                    return True
        return False

    def _question_kind(
        self,
        text: str,
        tokens: list[str],
        words: list[str],
        clauses: list[tuple[int, int, bool]],
    ) -> str | None:
        """ "question" (by grammar), "echo" (a '?' after words, no question grammar) or None.

        Read clause by clause (split at punctuation and at a capitalised question word): a
        clause asks by its grammar (a question word opening it, "what is", "how do"; or an
        auxiliary before its subject, "is it", "can you"), or by a '?' after a question word
        anywhere in it ("and what the fuck?") or an auxiliary opening it ("is Sikkab playing?").
        Not questions: a question followed by a laugh (a joke told to chat), one that answers
        itself ("what is this, amateur hour?"), one about oneself ("what am I doing with my
        life"), a reaction without '?' ("what is happening"), a wall of text (a paste).
        """
        if len(text) > QUESTION_MAX_CHARS:
            return None  # a question in a wall of text is most often a paste (measured, bench)
        # a picture of a multi-part emote around the words (moon21 moon22 … moon23 moon24)
        pieces = [t[:-1] for t in tokens if len(t) > 2 and t[-1].isdigit() and t[:-1].isalpha()]
        if len(pieces) > len(set(pieces)):
            return None
        if not LAUGHS.isdisjoint(words) or any(t in LAUGHS for t in (t.lower() for t in tokens)):
            return None  # a joke told to chat
        if "?" in text and _QUIP.match(text) is not None:
            return None
        kind: str | None = None
        opening = True
        skip = self._address_tokens | self._name_words | self._streamer_words | _CLAUSE_OPENERS
        for i, (start, end, asked) in enumerate(clauses):
            clause = words[start:end]
            if skip.issuperset(clause):
                continue  # "hs," / "oh wait,": the question is in the clause after
            # "Are Pat and Paige survivors, or just one watching?": the '?' closes the opening
            # clause's question too
            later = opening and any(a for _, _, a in clauses[i + 1 :])
            said = self._clause_kind(clause, asked=asked, opening=opening, asked_later=later)
            opening = False
            if said == "question":
                return said
            if said == "echo":
                kind = said
        return kind

    def _clause_kind(
        self, words: list[str], *, asked: bool, opening: bool, asked_later: bool = False
    ) -> str | None:
        """One clause's kind (see `_question_kind`). An auxiliary before its subject with no
        '?' counts in the opening clause only: later ones drop their subject ("..., had that
        the other day"). `asked_later`: a later clause of the text ends in '?', which an
        opening auxiliary clause asks with ("is it X, or Y?")."""
        skip = self._address_tokens
        names = self._name_words
        streamer = self._streamer_words
        start = 0
        n = len(words)
        while start < n and (
            words[start] in skip
            or words[start] in names
            or words[start] in _CLAUSE_OPENERS
            # the streamer called ("NymN what is ..."), not spoken of ("adum is the ghost")
            or (
                words[start] in streamer and (start + 1 == n or words[start + 1] not in AUXILIARIES)
            )
        ):
            start += 1  # "twin, what ...", "so what happened"
        words = words[start:]
        if len(words) < 2:
            return None  # "a taybul?", "THIS ???", "why?" alone is a quip or a reaction
        first, second = words[0], words[1]
        third = words[2] if len(words) > 2 else ""
        if first in WH_WORDS:
            if second == "up":
                return None  # "what's up": a greeting
            if (first, second) in _SELF_RHETORICAL and third == "i":
                return None  # "what am I doing with my life"
            if (
                first == "how"
                and second in ("would", "could", "should")
                and words[2:4]
                == [
                    "i",
                    "know",
                ]
            ):
                return None  # "how would I know"
            rest = words[1:]
            if second == "the" and len(words) > 2 and third in _SWEARS:
                rest = words[3:]  # "what the fuck is a vexel"
            if not rest:
                return "question" if asked else None  # "what the fuck?"
            if not asked and tuple(rest) in _EXCLAIMED:
                return None  # "WHAT THE FUCK IS HAPPENING": a reaction
            follows = rest[0]
            # "who's winning", "why not", "how long", "what is this"
            if "'" in first or follows == "not" or follows in WH_NEXT or asked:
                return "question"
            return None
        if (
            first in AUXILIARIES
            and len(words) >= 3
            and (asked or asked_later or (opening and second in SUBJECTS))
        ):
            if second in _DEICTIC and _guessed(words[2:]):
                return "echo" if asked or asked_later else None  # "is it a wet floor sign?"
            return "question"
        if len(words) >= 3 and (
            (asked and first in _SOMEONE)
            or (first in ("anyone", "anybody") and second in ANYONE_NEXT)
        ):
            return "question"  # "anyone know the song", "anything happen while I was gone?"
        if not asked:
            return None
        if second in AUXILIARIES and third in SUBJECTS:
            return "question"  # a name first: "forsen can i dance with you?"
        if words[-2] in _TAG_AUXILIARIES and words[-1] in SUBJECTS:
            return "question"  # a tag: "the clues were good, weren't they?"
        if not WH_WORDS.isdisjoint(words[1:]):
            return "question"  # "I just got back and what the fuck?", "you did what?"
        if len([w for w in words if w not in ("a", "an", "the")]) < 2:
            return None
        if any(_finite(w) for w in words):
            return "question"  # a statement asked: "tom nook is in this game?", "forsen died?"
        return "echo"  # a noun phrase asked: a guess or a quip ("the murder?", "X and Y?")

    def _merged_topic(self, live: Sequence[str]) -> tuple[str, ...]:
        key = tuple(live)
        merged = self._live_topics.get(key)
        if merged is None:
            if len(self._live_topics) >= 16:
                self._live_topics.clear()
            lowered = (w.strip().lower() for w in key if w.strip())
            merged = tuple(dict.fromkeys((*self._topic, *lowered)))
            self._live_topics[key] = merged
        return merged

    def _topic_hits(self, lower: str, topic: Sequence[str]) -> int:
        words = word_set(lower)
        hits = 0
        for item in topic:
            if (item in words) if " " not in item else (item in lower):
                hits += 1
                if hits >= TOPIC_CAP:
                    break
        return hits

    def _held(
        self,
        message: ChatMessage,
        *,
        lower: str,
        question: bool,
        memory: AnswerMemory,
        now: float,
        rate_per_minute: int | None,
    ) -> tuple[str, str] | None:
        s = self.settings
        cap = s.replies_per_minute if rate_per_minute is None else rate_per_minute
        recent = memory.replies_within(now, RATE_WINDOW_S)
        if recent >= cap:
            return "rate", f"{recent} replies in the last minute already (the cap is {cap})"
        last = memory.last_reply_at
        if last is not None and now - last < s.min_gap_s:
            return "gap", (
                f"the last reply was {now - last:.1f} s ago (the minimum gap is {s.min_gap_s:g} s)"
            )
        last_user = memory.last_reply_to(message.login)
        if last_user is not None and now - last_user < s.user_cooldown_s:
            return "cooldown", (
                f"{message.login} was answered {now - last_user:.0f} s ago "
                f"(the cooldown is {s.user_cooldown_s:g} s)"
            )
        if question:
            names = self._name_words
            words = word_set(lower) - names
            if words:
                for ts, answered in memory.answered_since(now - s.duplicate_window_s):
                    if _jaccard(words, answered - names) >= s.duplicate_similarity:
                        return "duplicate", (
                            f"a near-duplicate of a question answered {now - ts:.0f} s ago"
                        )
        return None


# ---- nicknames chat uses for the streamer ---------------------------------------------------

# Everyday words and chat words that can look like a short form of a login ("no" of
# northernlion, "damn" of dkdiamantes) and sit where a name would ("…, no", "damn!").
_COMMON_TEXT = """
    a about after again all also am an and any are as at away back bad be been before best
    big bit both but by can come could da dam damn day did do does doing done dont down dude
    each even ever every fine for from fun funny game get gg go god going gone good got great
    had has have he her here hers him his how i if in into is it its just kid kind know last
    least let like lmao lol look lot love mad made make man many may me mean men might mine
    more most much must my na nah name need never new nice no nope nor not now of off oh ok
    okay old on one only or other our out over play please pls poor pretty rage real really
    right run sad said same say see she should show so some son sorry still stop such sure
    take than thank thanks that the their them then there these they thing think this those
    though time to too true try two up us very wait want was way we well went were what when
    where which while who why will win with wow yeah yes yet you your die dies died dead dance
    dog cat car dad mom nan nana bed bet bot boy girl guy guys lad lads mate men mom mum nerd
    noob pog poggers pro rip sir sis tho tonight today week
    """
_COMMON_WORDS = frozenset(_COMMON_TEXT.split())
_VOCATIVE_BEFORE = _GREETINGS | {"love", "gn", "cya", "congrats", "gz", "grats", "morning"}


@dataclass(frozen=True, slots=True)
class Nickname:
    """A name chat calls the streamer by: how many viewers did, in how many messages."""

    name: str
    chatters: int
    calls: int
    uses: int  # messages with the word anywhere (called by it or not)


def _is_short_form(word: str, login: str) -> bool:
    """Whether `word` could be a short form of `login`: its first letter, then letters of the
    login in order ("dk" of dkdiamantes, "nl" of northernlion, "adum" of adumplaze)."""
    if len(word) < 2 or word == login or not word.isalpha() or word[0] != login[0]:
        return False
    rest = iter(login[1:])
    return all(letter in rest for letter in word[1:])


def _called(tokens: list[str]) -> Iterator[str]:
    """The words of a message in the places a name is called: `@name`, `name, …` first,
    the last word, after a greeting or thanks ("hi dk", "thanks adum")."""
    words = [t.strip(_EDGE_PUNCT).lower() for t in tokens]
    last = len(tokens) - 1
    for i, (token, word) in enumerate(zip(tokens, words, strict=True)):
        if not word:
            continue
        if token.startswith("@"):
            yield word.lstrip("@")
            continue
        opening = i == 0 and last > 0 and token[-1:] in (",", ":", "!")
        closing = i == last and i > 0
        greeted = i > 0 and words[i - 1] in _VOCATIVE_BEFORE
        if opening or closing or greeted:
            yield word


def learn_nicknames(
    messages: Iterable[ChatMessage],
    streamer: str,
    *,
    min_chatters: int = 3,
    min_share: float = 0.25,
    ignore: AbstractSet[str] = frozenset(),
) -> list[Nickname]:
    """The names chat calls the streamer by in these messages, most used first.

    A nickname is a short form of the streamer's login (see `_is_short_form`) that at least
    `min_chatters` viewers put where a name is called (`_called`), in at least `min_share` of
    the messages that hold it, and by at least a quarter as many viewers as the first name,
    and is not an everyday word. Names that are no short form of
    the login ("Ryan" for northernlion) are not found: set them in
    `PickerSettings.streamer_nicknames`. The streamer's own lines and `ignore` (bots) are
    skipped; memory is one counter per candidate word.
    """
    login = streamer.strip().lower().lstrip("@")
    if not login:
        return []
    callers: dict[str, set[str]] = {}
    calls: dict[str, int] = {}
    uses: dict[str, int] = {}
    for message in messages:
        sender = message.login.lower()
        if sender == login or sender in ignore or message.text.lstrip().startswith("!"):
            continue
        tokens = message.text.split()
        seen = set()
        for token in tokens:
            word = token.strip(_EDGE_PUNCT).lower().lstrip("@")
            if word not in seen and _is_short_form(word, login) and word not in _COMMON_WORDS:
                seen.add(word)
                uses[word] = uses.get(word, 0) + 1
        if not seen:
            continue
        for word in set(_called(tokens)) & seen:
            callers.setdefault(word, set()).add(sender)
            calls[word] = calls.get(word, 0) + 1
    found = [
        Nickname(name=word, chatters=len(who), calls=calls[word], uses=uses[word])
        for word, who in callers.items()
        if len(who) >= min_chatters and calls[word] >= min_share * uses[word]
    ]
    found.sort(key=lambda n: (-n.chatters, -n.calls, n.name))
    # a name far fewer viewers use than the first is a word that happens to fit ("die")
    return [n for n in found if n.chatters * 4 >= found[0].chatters]
