"""The picker: which chat messages the twin answers, as a score with named parts and a reason.

`Picker.decide` is pure: a function of the message, the recent window, what has been answered
(`AnswerMemory`), the time and the settings. Rules are checked in this order, first match wins:

1. never answered, whoever asks: `stale` (older than `freshness_s`), `bot` (known bots and the
   bot's own login, so the twin never answers itself), `command` (`!…`), `ignored`;
2. `streamer`: the streamer (their login or the broadcaster role) talking, but not to the twin;
3. spam, for everyone but the streamer: `link_only` (only URLs and @mentions), `emote_only`
   (the source says so, or every token is emote-like: a known emote, a channel-emote or
   CamelCase code like forsenParty or PogChamp, or bare symbols and emoji; ALL-CAPS words are
   not emotes), `copypasta` (the same text, compared by its first 64 lowercased letters and
   digits, already `copypasta_repeats - 1` times in the window; or repetitive in itself: one
   phrase over and over, one token woven through the line, mostly emotes, long and repetitive);
4. scoring; below the threshold is `low_score`;
5. rate rules, for messages that would be picked: `rate` (replies in the last 60 s),
   `gap` (since the last reply), `cooldown` (per viewer), `duplicate` (a near-duplicate of a
   question answered within `duplicate_window_s`).

Policy: the streamer addressing the twin bypasses the spam and rate rules (3, 5): the co-host
answers its host even when chat has used up the budget. Nobody bypasses the rules in 1.

Cost: the copypasta check is O(window) with each text's key computed once and cached, so the
caller passes its plain window (a deque) and maintains nothing else.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet

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
_GREETINGS = frozenset({"hi", "hey", "hello", "yo", "hiya", "thanks", "thank", "ty", "bye"})
_SWEARS = frozenset({"fuck", "hell", "heck", "frick"})


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
        horizon = max(RATE_WINDOW_S, settings.user_cooldown_s, settings.duplicate_window_s)
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
        self._bots = frozenset(b.strip().lower() for b in settings.known_bots) | (
            {self._bot_login} if self._bot_login else frozenset()
        )
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
        self._direct = ("direct", settings.weight_direct)
        self._broadcaster = ("broadcaster", settings.weight_broadcaster)
        self._question = ("question", settings.weight_question)
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
    ) -> Decision:
        """The verdict on one message.

        `window` is recent chat; the message itself may or may not be in it (it is skipped by
        identity). `topic_words`, `ignored` (lowercase logins) and `rate_per_minute` are live
        overrides from `!twin` commands, added to (or, for the rate, replacing) the settings.
        """
        text = message.text
        login = message.login

        age = now - message.ts
        if age > self._freshness_s:
            return _skip(
                message,
                "stale",
                f"it is {age:.0f} s old (the limit is {self._freshness_s:g} s)",
            )
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
        if (
            has_link
            and not addressed
            and not streamer
            and (Role.MODERATOR in message.roles or Role.VIP in message.roles)
        ):
            return _skip(message, "advert", "a moderator's link or announcement (bot-like)")
        if streamer and not addressed:
            return _skip(message, "streamer", "the streamer is talking, but not to the twin")
        # Past this point `streamer` means the streamer addressing the twin.

        parts: list[tuple[str, float]] = []
        if addressed:
            parts.append(self._direct)
            if streamer:
                parts.append(self._broadcaster)
        to_other = not addressed and self._to_someone_else(message, tokens)
        to_streamer = not addressed and not to_other and self._calls_streamer(spoken)
        if to_streamer:
            parts.append(self._to_streamer)
        question = self._is_question(text, tokens)
        if question:
            parts.append(self._question)
        if roles:
            for role, part in self._role_parts:
                if role in roles:
                    parts.append(part)
                    break
        if message.first_msg:
            parts.append(self._first_time)
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

    def _words(self, tokens: list[str]) -> list[str]:
        """The words of a message: no emotes, mentions, links or bare punctuation."""
        words: list[str] = []
        for token in tokens:
            if token.startswith("@") or self.is_emote(token) or _LINK.fullmatch(token):
                continue
            word = token.strip(_EDGE_PUNCT).lower().replace("’", "'")
            if word and _HAS_WORD.search(word) is not None:
                words.append(word)
        return words

    def _is_question(self, text: str, tokens: list[str]) -> bool:
        """A question by its punctuation (a '?' after words) or its grammar (see WH_WORDS)."""
        if len(text) > QUESTION_MAX_CHARS:
            return False  # a question in a wall of text is most often a paste (measured, bench)
        # a picture of a multi-part emote around the words (moon21 moon22 … moon23 moon24)
        pieces = [t[:-1] for t in tokens if len(t) > 2 and t[-1].isdigit() and t[:-1].isalpha()]
        if len(pieces) > len(set(pieces)):
            return False
        words = self._words(tokens)
        if not LAUGHS.isdisjoint(words) or any(t in LAUGHS for t in (t.lower() for t in tokens)):
            return False  # a joke told to chat
        if "?" in text and _WORD_BEFORE_QUESTION_MARK.search(text):
            # the clause the first '?' ends needs two words ("a table?" is a quip)
            clause = text[: text.index("?")].replace(",", ".").split(".")[-1]
            asked = [w for w in self._words(clause.split()) if w not in ("a", "an", "the")]
            if len(asked) >= 2:
                return True
        while words and (words[0] in self._address_tokens or words[0] in self._name_words):
            words = words[1:]  # "twin, what ..." / "DK is it ..."
        if len(words) < 2:
            return False
        first, second = words[0], words[1]
        if first in WH_WORDS:
            if second == "up":
                return False  # "what's up": a greeting
            if second == "the" and len(words) > 3 and words[2] in _SWEARS:
                second = words[3]  # "what the fuck is a vexel"
            # "who's winning", "why not", "how long", "what is this"
            return "'" in first or second == "not" or second in WH_NEXT
        if len(words) < 3:
            return False
        if first in AUXILIARIES:
            return second in SUBJECTS
        if first in ("anyone", "anybody"):
            return second in ANYONE_NEXT
        return False

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
