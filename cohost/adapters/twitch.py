"""Twitch chat through twitchio 3: EventSub chat, notices and moderation in, Helix send out.

The only module that imports twitchio. What it decides:
- Chat in goes on a bounded queue; when the picker falls behind, the oldest chat message is
  dropped and counted (keep the newest N; chat moves on). Moderation is not: it is kept up to
  `MODERATION_BACKLOG` queues' worth, so that a delete still finds the message it takes down.
- Moderation comes in on the same queue, in order with chat, from the chat-scoped EventSub
  types (the bot's `user:read:chat` covers them): `channel.chat.message_delete` (one message),
  `channel.chat.clear_user_messages` (a ban or a timeout: Twitch does not say which, so it reads
  as a timeout of unknown length) and `channel.chat.clear`. A twin must never answer, or have a
  held reply approved for, a message a moderator took down.
- Subs, gifts and raids come in on it too (`channel.chat.notification`), as `UserNotice`s;
  cheers are chat messages with bits. Follows (`channel.follow` v2) only when asked for
  (`follows=True`): Twitch sends them only to a moderator's token with
  `moderator:read:followers`, which a bot need not have.
- Each type after chat (moderation, notifications) is optional: one that cannot be subscribed
  is tried again with its own backoff, logged once per failing streak; chat does not wait.
- Known bots are never queued; the twin's own lines are, so that the recent chat holds what
  it said (the daemon never answers nor obeys them).
- twitchio reconnects a dropped EventSub websocket itself (jittered exponential backoff, at most
  90 s) and resubscribes on the new session; `session_reconnect` migrations too. A watchdog
  here covers what it leaves undone: when no chat subscription is alive for two checks in a
  row (a resubscribe that failed), it subscribes again with its own jittered backoff.
- A revoked or refused token is Permanent: `events()` raises it (the daemon exits with the
  message; systemd decides), and so does `send_raw`. Anything else is Transient.
- Replies go out with the app token when a client secret is set (Twitch shows the chat-bot
  badge; the broadcaster must have granted channel:bot), otherwise with the bot's own token.
- Tokens refreshed by twitchio are written back to the token store at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import warnings
from collections import deque
from collections.abc import AsyncGenerator, Callable, Collection
from dataclasses import dataclass
from typing import Any, Self

import aiohttp

with warnings.catch_warnings():
    # twitchio 3.3's web adapter (unused here) subclasses aiohttp's Application; aiohttp warns.
    warnings.filterwarnings("ignore", "Inheritance class AiohttpAdapter", DeprecationWarning)
    import twitchio
    from twitchio.eventsub import (
        ChannelFollowSubscription,
        ChatClearSubscription,
        ChatClearUserMessagesSubscription,
        ChatMessageDeleteSubscription,
        ChatMessageSubscription,
        ChatNotificationSubscription,
    )
    from twitchio.eventsub import websockets as eventsub_websockets
    from twitchio.http import Route

from cohost.adapters.twitch_tokens import AuthError, StoredToken, TokenStore
from cohost.chatlog.base import BADGE_ROLES
from cohost.core.errors import Permanent, SettingsError, Transient
from cohost.core.events import (
    ChatMessage,
    Follow,
    Moderation,
    Role,
    SendResult,
    SourceEvent,
    UserNotice,
    UserNoticeKind,
)
from cohost.core.options import TwitchSettings

log = logging.getLogger(__name__)

# Revocations that waiting cannot heal.
_FATAL_REVOCATIONS = frozenset(
    {"authorization_revoked", "user_removed", "version_removed", "moderator_removed"}
)


class TwitchUnavailable(Transient):
    """Twitch could not be reached, failed, or refused one request."""


def roles_of(message: twitchio.ChatMessage) -> frozenset[Role]:
    """The chatter's roles from twitchio's badge booleans."""
    chatter = message.chatter
    roles: set[Role] = set()
    if chatter.broadcaster:
        roles.add(Role.BROADCASTER)
    if chatter.moderator:
        roles.add(Role.MODERATOR)
    if chatter.vip:
        roles.add(Role.VIP)
    if chatter.subscriber or chatter.founder:
        roles.add(Role.SUBSCRIBER)
    return frozenset(roles)


# EventSub's notice types as cohost (and IRC's msg-id) name them; the rest are "other".
NOTICE_KINDS: dict[str, UserNoticeKind] = {
    "sub": "sub",
    "resub": "resub",
    "sub_gift": "subgift",
    "community_sub_gift": "submysterygift",
    "raid": "raid",
    "announcement": "announcement",
}


def to_user_notice(notification: Any, *, ts: float) -> UserNotice:
    """The cohost event for one `channel.chat.notification` (a sub, gift, raid, ...)."""
    chatter = notification.chatter
    login = "" if notification.anonymous else (chatter.name or "").lower()
    kind = NOTICE_KINDS.get(str(notification.notice_type), "other")
    months = viewers = 0
    recipient: str | None = None
    if notification.resub is not None:
        months = int(notification.resub.cumulative_months)
    elif notification.sub is not None:
        months = int(notification.sub.months)
    if notification.raid is not None:
        viewers = int(notification.raid.viewer_count)
    in_community_gift = False
    gifts = 0
    if notification.community_sub_gift is not None:
        gifts = int(notification.community_sub_gift.total)
    if notification.sub_gift is not None:
        recipient = (notification.sub_gift.recipient.name or "").lower() or None
        in_community_gift = bool(notification.sub_gift.community_gift_id)
    return UserNotice(
        id=str(notification.id),
        channel=(notification.broadcaster.name or "").lower(),
        kind=kind,
        msg_id=str(notification.notice_type),
        login=login,
        display_name=("" if notification.anonymous else chatter.display_name) or login,
        text=notification.text or "",
        system_text=notification.system_message or "",
        ts=ts,
        user_id="" if notification.anonymous else str(chatter.id),
        roles=frozenset(
            role for badge in notification.badges if (role := BADGE_ROLES.get(badge.set_id))
        ),
        months=months,
        viewers=viewers,
        recipient=recipient,
        in_community_gift=in_community_gift,
        gifts=gifts,
    )


def to_follow(payload: Any, *, ts: float) -> Follow:
    """The cohost event for one `channel.follow`."""
    user = payload.user
    login = str(user.name or "").lower()
    return Follow(
        id=f"follow:{user.id}:{int(payload.followed_at.timestamp())}",
        channel=str(payload.broadcaster.name or "").lower(),
        login=login,
        display_name=str(user.display_name or "") or login,
        ts=ts,
        user_id=str(user.id),
    )


def is_emote_only(message: twitchio.ChatMessage) -> bool:
    """Whether the message is nothing but emotes (from its fragments)."""
    saw_emote = False
    for fragment in message.fragments:
        if fragment.type == "emote":
            saw_emote = True
        elif fragment.type != "text" or fragment.text.strip():
            return False
    return saw_emote


def to_chat_message(message: twitchio.ChatMessage, *, ts: float) -> ChatMessage:
    """The cohost event for one twitchio chat message (received at `ts`)."""
    chatter = message.chatter
    login = (chatter.name or "").lower()
    reply = message.reply
    parent_login = (reply.parent_user.name or "").lower() if reply is not None else ""
    return ChatMessage(
        id=message.id,
        channel=(message.broadcaster.name or "").lower(),
        login=login,
        display_name=chatter.display_name or login,
        text=message.text,
        ts=ts,
        user_id=chatter.id,
        roles=roles_of(message),
        badges=tuple((b.set_id, b.id) for b in message.badges),
        # EventSub has no first-msg tag; a "user_intro" is a first-time chatter saying hello.
        first_msg=message.type == "user_intro",
        bits=message.cheer.bits if message.cheer is not None else 0,
        emote_only=is_emote_only(message),
        reply_parent_id=reply.parent_message_id if reply is not None else None,
        reply_parent_login=parent_login or None,
    )


def backoff_delays(minimum: float, maximum: float) -> AsyncGenerator[float, None]:
    """Full-jitter exponential delays: random in [0, min * 2^n], capped at max."""

    async def delays() -> AsyncGenerator[float, None]:
        attempt = 0
        while True:
            ceiling = min(maximum, minimum * 2**attempt)
            yield random.uniform(minimum / 2, ceiling)
            attempt = min(attempt + 1, 30)

    return delays()


def point_twitchio_at(settings: TwitchSettings) -> None:
    """Set twitchio's base URLs (class attributes, shared by every client in the process)."""
    Route.BASE = settings.api_base if settings.api_base.endswith("/") else settings.api_base + "/"
    Route.ID_BASE = settings.id_base if settings.id_base.endswith("/") else settings.id_base + "/"
    eventsub_websockets.WSS = settings.eventsub_url


def _same_account(role: str, login: str, user_id: str, token: StoredToken) -> None:
    """The stored token belongs to the account the settings name (when they name one)."""
    if login and login.casefold() != token.login.casefold():
        raise AuthError(
            f"the stored {role} token is for {token.login}, but the settings say {login}: "
            f"run `cohost auth{' --broadcaster' if role == 'broadcaster' else ''}` again"
        )
    if user_id and user_id != token.user_id:
        raise AuthError(f"the stored {role} token is for user id {token.user_id}, not {user_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Backoff:
    """An optional subscription that failed: when to try again, and the wait before that."""

    at: float  # time.monotonic()
    delay: float


class TwitchChat:
    """Twitch chat as a `ChatSource` and a `RawSender`; an async context manager."""

    def __init__(
        self,
        settings: TwitchSettings,
        store: TokenStore,
        *,
        known_bots: Collection[str] = (),
        follows: bool = False,
    ) -> None:
        """follows: subscribe to `channel.follow` too (the bot must be a moderator)."""
        self.settings = settings
        self.optional = (*OPTIONAL_SUBSCRIPTIONS, *((FOLLOW_SUBSCRIPTION,) if follows else ()))
        self.store = store
        self.known_bots = frozenset(b.lower() for b in known_bots)
        self.dropped = 0  # chat messages dropped because the queue was full
        self.dropped_moderation = 0  # moderation dropped past MODERATION_BACKLOG queues' worth
        # The bot's roles in this channel, from the badges on its own last message (None until
        # one is seen), and who to tell when they change (the sink's rate limit follows them).
        self.bot_roles: frozenset[Role] | None = None
        self.on_bot_roles: Callable[[frozenset[Role]], None] | None = None
        # optional types that failed to subscribe: (when to try again, the last wait)
        self._retry_after: dict[str, _Backoff] = {}
        self.ignored = 0  # known bots' messages (the twin's own go on, for the window)
        self.resubscribed = 0  # subscriptions the watchdog had to make again
        # In arrival order. Full, it drops its oldest chat message (moderation and errors stay):
        # chat moves on, but a delete must still find the message it takes down.
        self._inbox: deque[SourceEvent | Permanent] = deque()
        self._arrived = asyncio.Event()
        self._client: twitchio.Client | None = None
        self._bot: StoredToken | None = None
        self._broadcaster_id = settings.broadcaster_id
        self._fatal: Permanent | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        settings = self.settings
        if not settings.client_id:
            raise SettingsError(
                "COHOST_TWITCH__CLIENT_ID is not set (register an app at dev.twitch.tv)"
            )
        bot = self.store.require("bot")
        self._bot = bot
        _same_account("bot", settings.bot_login, settings.bot_id, bot)
        if not self._broadcaster_id:
            broadcaster = self.store.load("broadcaster")
            if broadcaster is not None:
                _same_account("broadcaster", settings.channel, "", broadcaster)
            if broadcaster is None:
                raise AuthError(
                    "the channel is unknown: set COHOST_TWITCH__BROADCASTER_ID "
                    "or run `cohost auth --broadcaster`"
                )
            self._broadcaster_id = broadcaster.user_id
        point_twitchio_at(settings)
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        client = twitchio.Client(
            client_id=settings.client_id,
            client_secret=secret,
            bot_id=bot.user_id,
            fetch_client_user=False,
        )
        self._client = client
        client.add_listener(self._on_message, event="event_message")
        client.add_listener(self._on_message_delete, event="event_message_delete")
        client.add_listener(self._on_clear_user, event="event_chat_clear_user")
        client.add_listener(self._on_clear, event="event_chat_clear")
        client.add_listener(self._on_notification, event="event_chat_notification")
        client.add_listener(self._on_follow, event="event_follow")
        client.add_listener(self._on_token_refreshed, event="event_token_refreshed")
        client.add_listener(self._on_revoked, event="event_subscription_revoked")
        try:
            # Without a secret there is no app token: the bot's own token stands in for it.
            app_token = None if secret else bot.access_token.get_secret_value()
            await self._remote(
                "login", client.login(token=app_token, load_tokens=False, save_tokens=False)
            )
            await self._remote(
                "add token",
                client.add_token(
                    bot.access_token.get_secret_value(), bot.refresh_token.get_secret_value()
                ),
            )
            await self._subscribe()
        except BaseException:
            await self._shutdown()
            raise
        self._watchdog = asyncio.create_task(self._watch(), name="twitch-watchdog")
        log.info("reading chat of channel %s as %s", self._broadcaster_id, bot.login)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.request_timeout_s):
                    await self._client.close(save_tokens=False)
            self._client = None

    # --- chat in --------------------------------------------------------------------------

    async def events(self) -> AsyncGenerator[SourceEvent, None]:
        """Chat, notices, follows and moderation as they arrive; raises Permanent when
        credentials fail."""
        while True:
            while not self._inbox:
                self._arrived.clear()
                await self._arrived.wait()
            item = self._inbox.popleft()
            if isinstance(item, Permanent):
                raise item
            yield item

    def _put(self, item: SourceEvent | Permanent) -> None:
        inbox = self._inbox
        if len(inbox) >= self.settings.queue_size:
            # keep the newest N chat messages (notices and follows are chat too); chat moves on
            oldest = next(
                (
                    i
                    for i, old in enumerate(inbox)
                    if isinstance(old, ChatMessage | UserNotice | Follow)
                ),
                None,
            )
            if oldest is not None:
                del inbox[oldest]
                self.dropped += 1
            elif len(inbox) >= MODERATION_BACKLOG * self.settings.queue_size:
                # a mass-ban raid with nobody reading: even moderation has a bound
                inbox.popleft()
                self.dropped_moderation += 1
        inbox.append(item)
        self._arrived.set()

    @property
    def bot_login(self) -> str:
        """The bot account's login, as its token says (inside `async with`)."""
        if self._bot is None:
            raise RuntimeError("TwitchChat.bot_login outside `async with`")
        return self._bot.login.lower()

    async def _on_message(self, message: twitchio.ChatMessage) -> None:
        if message.broadcaster.id != self._broadcaster_id:
            return
        login = (message.chatter.name or "").lower()
        bot = self._bot
        own = bot is not None and message.chatter.id == bot.user_id
        if own:
            # the bot's own message, echoed: its badges say whether it is modded here now
            roles = roles_of(message)
            if roles != self.bot_roles:
                self.bot_roles = roles
                if self.on_bot_roles is not None:
                    self.on_bot_roles(roles)
        if login in self.known_bots and not own:
            self.ignored += 1
            return
        # the twin's own lines go on too, as Twitch ordered them: the recent chat the twin model
        # continues must hold what the twin said (the picker never answers them: `bot_login`)
        self._put(to_chat_message(message, ts=time.time()))

    def _channel(self, payload: Any) -> str | None:
        """The channel's login when the event is about the channel read here, else None."""
        broadcaster = payload.broadcaster
        if str(broadcaster.id) != self._broadcaster_id:
            return None
        return str(broadcaster.name or "").lower()

    async def _on_message_delete(self, payload: Any) -> None:
        if (channel := self._channel(payload)) is None:
            return
        self._put(
            Moderation(
                kind="delete",
                channel=channel,
                ts=time.time(),
                target_login=str(payload.user.name or "").lower() or None,
                target_message_id=str(payload.message_id),
            )
        )

    async def _on_clear_user(self, payload: Any) -> None:
        if (channel := self._channel(payload)) is None:
            return
        login = str(payload.user.name or "").lower()
        # a ban or a timeout, Twitch does not say: either takes the user's messages down
        self._put(Moderation(kind="timeout", channel=channel, ts=time.time(), target_login=login))

    async def _on_clear(self, payload: Any) -> None:
        if (channel := self._channel(payload)) is None:
            return
        self._put(Moderation(kind="clear", channel=channel, ts=time.time()))

    async def _on_notification(self, payload: Any) -> None:
        if self._channel(payload) is None:
            return
        self._put(to_user_notice(payload, ts=time.time()))

    async def _on_follow(self, payload: Any) -> None:
        if self._channel(payload) is None:
            return
        self._put(to_follow(payload, ts=time.time()))

    def _fail(self, error: Permanent) -> None:
        if self._fatal is None:
            self._fatal = error
            log.error("twitch: %s", error)
            self._put(error)

    async def _on_revoked(self, payload: Any) -> None:
        status = str(getattr(payload.status, "value", payload.status))
        if status in _FATAL_REVOCATIONS:
            self._fail(AuthError(f"Twitch revoked the chat subscription ({status}): "
                                 "run `cohost auth` again"))  # fmt: skip

    async def _on_token_refreshed(self, payload: Any) -> None:
        bot = self._bot
        if bot is None or str(payload.user_id) != bot.user_id:
            return
        self._bot = bot.renewed(
            access_token=payload.token,
            refresh_token=payload.refresh_token,
            expires_in=float(payload.expires_in),
            now=time.time(),
        )
        # Twitch rotates refresh tokens: the new pair is written before anything else runs, so
        # that neither a crash nor a reader of the store sees the old, now useless, one.
        self.store.save(self._bot)
        log.info("twitch: refreshed token of %s stored", bot.login)

    # --- subscriptions and the watchdog ---------------------------------------------------

    async def _subscribe_one(self, kind: Any) -> None:
        client, bot = self._client, self._bot
        assert client is not None and bot is not None
        # a follow's condition names the moderator whose token reads it (the bot's)
        who = "moderator_user_id" if kind is FOLLOW_SUBSCRIPTION else "user_id"
        subscription = kind(**{"broadcaster_user_id": self._broadcaster_id, who: bot.user_id})
        await self._remote(
            f"subscribe to {kind.type}",
            client.subscribe_websocket(subscription, token_for=bot.user_id),
        )

    async def _subscribe(self) -> None:
        """Chat, then every optional type: chat's failure is this call's.

        An optional type that fails for a passing reason is left to the watchdog, which tries
        it again with its own backoff: chat need not wait for it.
        """
        await self._subscribe_one(CHAT_SUBSCRIPTION)
        for kind in self.optional:
            await self._subscribe_optional(kind)

    async def _subscribe_optional(self, kind: Any) -> None:
        """One type after chat; a passing failure backs off (logged once per streak)."""
        try:
            await self._subscribe_one(kind)
        except Transient as exc:
            last = self._retry_after.get(kind.type)
            delay = self.settings.reconnect_min_s if last is None else 2 * last.delay
            delay = min(delay, self.settings.reconnect_max_s)
            self._retry_after[kind.type] = _Backoff(at=time.monotonic() + delay, delay=delay)
            if last is None:
                log.warning("twitch: %s; trying again with backoff", exc)
            return
        if self._retry_after.pop(kind.type, None) is not None:
            log.info("twitch: subscribed to %s", kind.type)

    def _alive_types(self) -> set[str]:
        client = self._client
        if client is None:
            return set()
        return {
            str(getattr(s.type, "value", s.type)) for s in client.websocket_subscriptions().values()
        }

    def _chat_subscribed(self) -> bool:
        return CHAT_SUBSCRIPTION.type in self._alive_types()

    def links(self) -> dict[str, str]:
        """How the link to Twitch is now, for /healthz: chat, and each optional type after it."""
        alive = self._alive_types()
        return {
            kind.type.removeprefix("channel."): "up" if kind.type in alive else "down"
            for kind in (CHAT_SUBSCRIPTION, *self.optional)
        }

    async def _watch(self) -> None:
        # Only a second look in a row that finds a subscription missing counts: twitchio
        # empties its list while it resubscribes by itself.
        missing: dict[str, int] = {}
        while not self._closing and self._fatal is None:
            await asyncio.sleep(self.settings.watch_interval_s)
            try:
                await self._look(missing)
            except Exception:
                # twitchio raises more than `_remote` translates (a ValueError while it is
                # reconnecting by itself): the watchdog logs it and looks again, never dies
                log.exception("twitch: the subscription watchdog failed; looking again")

    async def _look(self, missing: dict[str, int]) -> None:
        """One look at the subscriptions: subscribe again what has been missing twice."""
        alive = self._alive_types()
        for kind in (CHAT_SUBSCRIPTION, *self.optional):
            missing[kind.type] = 0 if kind.type in alive else missing.get(kind.type, 0) + 1
        chat = CHAT_SUBSCRIPTION.type
        if missing[chat] >= 2:
            await self._resubscribe()
            missing[chat] = 0
        for kind in self.optional:
            retry = self._retry_after.get(kind.type)
            if missing[kind.type] >= 2 and (retry is None or retry.at <= time.monotonic()):
                try:
                    await self._subscribe_optional(kind)
                except Permanent as exc:
                    self._fail(exc)
                    return
                missing[kind.type] = 0

    async def _resubscribe(self) -> None:
        delays = backoff_delays(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        async with contextlib.aclosing(delays):
            async for delay in delays:
                if self._closing or self._chat_subscribed():
                    return
                try:
                    await self._subscribe_one(CHAT_SUBSCRIPTION)
                except Permanent as exc:
                    self._fail(exc)
                    return
                except Transient as exc:
                    log.warning("twitch: resubscribing failed (%s); next try in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    continue
                self.resubscribed += 1
                log.info("twitch: chat subscription renewed")
                return

    # --- chat out -------------------------------------------------------------------------

    async def send_raw(self, text: str, *, reply_to: str | None) -> SendResult:
        """Post one chat message as is (the rules live in cohost.pipeline.twitch_rules)."""
        client, bot = self._client, self._bot
        if client is None or bot is None:
            raise RuntimeError("TwitchChat.send_raw outside `async with`")
        if self._fatal is not None:
            raise self._fatal
        token_for = None if self.settings.client_secret else bot.user_id
        reply = await self._remote(
            "send",
            client.http.post_chat_message(
                broadcaster_id=self._broadcaster_id,
                sender_id=bot.user_id,
                message=text,
                token_for=token_for,
                reply_to_message_id=reply_to,
            ),
        )
        try:
            data = reply["data"][0]
            drop = data.get("drop_reason") or None
            return SendResult(
                is_sent=bool(data["is_sent"]),
                message_id=data.get("message_id") or None,
                drop_reason=(drop.get("code") or drop.get("message")) if drop else None,
            )
        except (KeyError, IndexError, TypeError, AttributeError):
            raise TwitchUnavailable("Twitch sent a malformed send-chat-message reply") from None

    # --- the edge -------------------------------------------------------------------------

    async def _remote(self, what: str, call: Any) -> Any:
        """Await a twitchio call within the timeout, translating its errors."""
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                return await call
        except TimeoutError:
            raise TwitchUnavailable(f"twitch {what}: no answer in "
                                    f"{self.settings.request_timeout_s} s") from None  # fmt: skip
        except twitchio.InvalidTokenException:
            # Its message quotes the token: never pass it on.
            raise AuthError(f"twitch {what}: the bot's token was refused and could not be "
                            "refreshed; run `cohost auth` again") from None  # fmt: skip
        except twitchio.HTTPException as exc:
            raise _translate_http(what, exc) from None
        except (aiohttp.ClientError, twitchio.WebsocketConnectionException, OSError) as exc:
            raise TwitchUnavailable(f"twitch {what}: {type(exc).__name__}") from None


# Moderation waiting to be read is kept up to this many queues' worth, however full chat is.
MODERATION_BACKLOG = 4

# What the reader subscribes to: chat first, then what takes chat down, then subs and raids.
# Each after chat is optional: it is retried with its own backoff and never keeps chat down.
CHAT_SUBSCRIPTION = ChatMessageSubscription
MODERATION_SUBSCRIPTIONS = (
    ChatMessageDeleteSubscription,
    ChatClearUserMessagesSubscription,
    ChatClearSubscription,
)
NOTIFICATION_SUBSCRIPTION = ChatNotificationSubscription
OPTIONAL_SUBSCRIPTIONS = (*MODERATION_SUBSCRIPTIONS, NOTIFICATION_SUBSCRIPTION)
SUBSCRIPTIONS = (CHAT_SUBSCRIPTION, *OPTIONAL_SUBSCRIPTIONS)
# Only when asked: Twitch sends follows to a moderator's token alone.
FOLLOW_SUBSCRIPTION = ChannelFollowSubscription


def _translate_http(what: str, exc: twitchio.HTTPException) -> CohostErrorType:
    # HTTPException's text holds the URL, with a refresh token or secret in its query string:
    # only the status and Twitch's message are kept.
    route = getattr(exc, "route", None)
    path = str(getattr(route, "path", "") or "")
    message = str(exc.extra.get("message", "")) if isinstance(exc.extra, dict) else ""
    if exc.status == 401 or (path.startswith("oauth2/") and exc.status in (400, 403)):
        return AuthError(f"twitch {what}: credentials refused (HTTP {exc.status} {message}); "
                         "run `cohost auth` again")  # fmt: skip
    return TwitchUnavailable(f"twitch {what}: HTTP {exc.status} {message}".rstrip())


CohostErrorType = AuthError | TwitchUnavailable
