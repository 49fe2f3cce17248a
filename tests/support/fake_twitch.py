"""A fake Twitch on loopback: OAuth, the Helix endpoints cohost uses, and the EventSub websocket.

A real aiohttp server on 127.0.0.1 (a free port) that a real twitchio client talks to once its
URLs point here (`TwitchSettings(**fake.settings_overrides())` does that for cohost).

    async with FakeTwitch() as fake:
        bot = fake.add_user("twinbot", scopes=BOT_SCOPES)        # a FakeUser with .token/.refresh
        streamer = fake.add_user("streamer", scopes=["channel:bot"])
        ...start the client under test...
        await fake.wait_for_subscriptions(1)
        await fake.push_chat(chatter=viewer, text="hi", badges=[("subscriber", "12")])
        fake.sent                      # [SentChat(text, reply_parent_message_id, sender_id, ...)]

Endpoints:
- POST /oauth2/token: client_credentials, refresh_token (rotates the pair), and the device code
  grant (`authorization_pending` for `device_pending_polls` polls, then the `device_user`'s pair).
- POST /oauth2/device: a device code for the scopes asked (`device_user` must be set).
- GET /oauth2/validate: `OAuth <token>` → client_id, login, user_id, scopes, expires_in (4 h).
- POST /helix/eventsub/subscriptions: 202 and a subscription bound to the websocket session;
  `fail_subscriptions(n, status, sub_type=)` makes the next n (of that type) fail.
- POST /helix/chat/messages: recorded in `sent`; `refuse_next_send(code, message)` makes the next
  one come back `is_sent=false` with that drop reason; a `reply_parent_message_id` that is not a
  message chat holds (pushed or sent) is a 400, as on Twitch. A message sent is echoed to the
  channel's chat subscriptions, with the sender's `badges[user_id]`.
- GET /helix/users: by `id` or `login`.
- GET /ws: the EventSub websocket: `session_welcome`, then `session_keepalive` every
  `keepalive_s`, and the notifications pushed.
Controls (all async unless noted):
- `push_chat(chatter=, text=, badges=, message_id=, reply_to=, bits=, fragments=, message_type=)`
  → the message id; sent to every session subscribed to that broadcaster's chat.
- `push_notification(kind, chatter=, system_message=, ...)`: a `channel.chat.notification`
  (sub, resub, raid, announcement, sub_gift, community_sub_gift); `push_gift_bomb(gifter=,
  recipients=)`: a community gift and its single gifts, as Twitch sends them.
- `push_follow(user)`: a `channel.follow` (v2).
- `push_moderation(kind, target=, message_id=)`: a `channel.chat.message_delete` ("delete"),
  `channel.chat.clear_user_messages` ("clear_user", a ban or timeout) or `channel.chat.clear`.
- `drop_websocket()`: closes every websocket abruptly (the client should reconnect).
- `send_reconnect()`: `session_reconnect` pointing at a fresh websocket URL (Twitch's migration).
- `revoke_token(user)`: the user's tokens and refresh token stop working, and their
  subscriptions get a `revocation` frame with status `authorization_revoked`.
- `wait_for_subscriptions(n)`, `wait_for_sent(n)`, `wait_for_sessions(n)`: wait (no timeout of
  their own: wrap them in `asyncio.timeout`).
Records: `sent` (SentChat with a wall-clock `at`), `subscriptions` (every subscription ever
created), `token_requests` (grant types seen), `sessions` (websocket session ids welcomed).
`chat_event(...)` builds a `channel.chat.message` event payload without a server, for unit tests.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self

from aiohttp import WSCloseCode, web

BOT_SCOPES = ("user:read:chat", "user:write:chat", "user:bot")
BROADCASTER_SCOPES = ("channel:bot",)
TOKEN_LIFETIME_S = 4 * 3600
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True, kw_only=True)
class FakeUser:
    """A Twitch account known to the fake, with its current token pair."""

    login: str
    user_id: str
    display_name: str
    scopes: tuple[str, ...]
    token: str = ""
    refresh: str = ""


# The per-type objects of a `channel.chat.notification`: all null but the one of its type.
NOTIFICATION_DETAILS = (
    "sub", "resub", "sub_gift", "community_sub_gift", "gift_paid_upgrade", "prime_paid_upgrade",
    "raid", "unraid", "pay_it_forward", "announcement", "bits_badge_tier", "charity_donation",
    "modiversary", "watch_streak", "shared_chat_sub", "shared_chat_resub",
    "shared_chat_sub_gift", "shared_chat_community_sub_gift", "shared_chat_gift_paid_upgrade",
    "shared_chat_prime_paid_upgrade", "shared_chat_raid", "shared_chat_pay_it_forward",
    "shared_chat_announcement", "shared_chat_modiversary",
)  # fmt: skip

MODERATION_TYPES = {
    "delete": "channel.chat.message_delete",
    "clear_user": "channel.chat.clear_user_messages",
    "clear": "channel.chat.clear",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SentChat:
    """One POST /helix/chat/messages as the fake received it."""

    text: str
    broadcaster_id: str
    sender_id: str
    reply_parent_message_id: str | None
    token: str
    at: float  # time.time() when it arrived
    is_sent: bool
    message_id: str


@dataclass(slots=True, kw_only=True)
class _Sub:
    id: str
    type: str
    version: str
    condition: dict[str, str]
    session_id: str
    user_id: str  # whose token created it
    active: bool = True


@dataclass(slots=True, kw_only=True)
class _Session:
    id: str
    ws: web.WebSocketResponse
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def chat_event(
    *,
    broadcaster: FakeUser,
    chatter: FakeUser,
    text: str,
    message_id: str | None = None,
    badges: Sequence[tuple[str, str]] = (),
    reply_to: tuple[str, FakeUser] | None = None,
    bits: int = 0,
    fragments: Sequence[dict[str, Any]] | None = None,
    message_type: str = "text",
) -> dict[str, Any]:
    """A realistic `channel.chat.message` event (the `payload.event` object)."""
    if fragments is None:
        fragments = [
            {"type": "text", "text": text, "cheermote": None, "emote": None, "mention": None}
        ]
    reply = None
    if reply_to is not None:
        parent_id, parent = reply_to
        reply = {
            "parent_message_id": parent_id,
            "parent_message_body": "",
            "parent_user_id": parent.user_id,
            "parent_user_login": parent.login,
            "parent_user_name": parent.display_name,
            "thread_message_id": parent_id,
            "thread_user_id": parent.user_id,
            "thread_user_login": parent.login,
            "thread_user_name": parent.display_name,
        }
    return {
        "broadcaster_user_id": broadcaster.user_id,
        "broadcaster_user_login": broadcaster.login,
        "broadcaster_user_name": broadcaster.display_name,
        "chatter_user_id": chatter.user_id,
        "chatter_user_login": chatter.login,
        "chatter_user_name": chatter.display_name,
        "message_id": message_id or str(uuid.uuid4()),
        "message": {"text": text, "fragments": list(fragments)},
        "color": "#1E90FF",
        "badges": [{"set_id": s, "id": i, "info": ""} for s, i in badges],
        "message_type": message_type,
        "cheer": {"bits": bits} if bits else None,
        "reply": reply,
        "channel_points_custom_reward_id": None,
        "channel_points_animation_id": None,
        "source_broadcaster_user_id": None,
        "source_broadcaster_user_login": None,
        "source_broadcaster_user_name": None,
        "source_message_id": None,
        "source_badges": None,
        "is_source_only": None,
    }


class FakeTwitch:
    """The fake server; see the module docstring."""

    def __init__(
        self, *, client_id: str = "fake-client-id", client_secret: str = "fake-secret"
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.keepalive_s = 5.0
        self.device_pending_polls = 1
        self.device_interval = 0
        self.device_user: FakeUser | None = None
        self.users: dict[str, FakeUser] = {}
        self.sent: list[SentChat] = []
        self.subscriptions: list[_Sub] = []
        self.sessions: list[str] = []
        self.token_requests: list[str] = []
        self._ids = itertools.count(100_001)
        self._app_tokens: set[str] = set()
        self._live: dict[str, _Session] = {}
        self._devices: dict[str, tuple[tuple[str, ...], int]] = {}  # code -> scopes, polls
        self._refuse: list[tuple[str, str]] = []
        self._in_chat: set[str] = set()  # ids of the messages chat holds: replies thread to these
        self._message_ids = itertools.count(
            1
        )  # chat message ids count up: the embedded twin's draw (seeded by the
        # answered message's id) is then the same in every run of a test
        # each user's badges in chat, as Twitch shows them on the echo of what they send
        self.badges: dict[str, list[tuple[str, str]]] = {}
        self._sub_failures: list[tuple[int, str | None]] = []  # (status, only this type)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_post("/oauth2/device", self._device)
        app.router.add_get("/oauth2/validate", self._validate)
        app.router.add_post("/helix/eventsub/subscriptions", self._subscribe)
        app.router.add_post("/helix/chat/messages", self._chat_message)
        app.router.add_get("/helix/users", self._get_users)
        app.router.add_get("/ws", self._websocket)
        # No access log: twitchio puts refresh tokens in query strings, and tests look for leaks.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in list(self._live.values()):
            await session.ws.close(code=WSCloseCode.GOING_AWAY)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base}/helix/"

    @property
    def id_base(self) -> str:
        return f"{self.base}/"

    @property
    def eventsub_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def settings_overrides(self) -> dict[str, Any]:
        """Fields of cohost's TwitchSettings that point at this fake."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "api_base": self.api_base,
            "id_base": self.id_base,
            "eventsub_url": self.eventsub_url,
        }

    # --- accounts and tokens --------------------------------------------------------------

    def add_user(
        self, login: str, *, scopes: Sequence[str] = (), user_id: str | None = None
    ) -> FakeUser:
        """A new account with a fresh token pair."""
        user = FakeUser(
            login=login.lower(),
            user_id=user_id or str(next(self._ids)),
            display_name=login,
            scopes=tuple(scopes),
        )
        self._issue(user)
        self.users[user.user_id] = user
        return user

    def _issue(self, user: FakeUser) -> None:
        user.token = "tok_" + secrets.token_hex(12)
        user.refresh = "ref_" + secrets.token_hex(12)

    def _user_by_token(self, token: str) -> FakeUser | None:
        return next((u for u in self.users.values() if token and u.token == token), None)

    def expire_token(self, user: FakeUser) -> None:
        """The access token stops working; the refresh token still does."""
        user.token = "expired_" + secrets.token_hex(12)

    async def revoke_token(self, user: FakeUser) -> None:
        """The user's tokens stop working and their subscriptions are revoked."""
        user.token = ""
        user.refresh = ""
        for sub in self.subscriptions:
            if sub.user_id == user.user_id and sub.active:
                sub.active = False
                await self._send_to(
                    sub.session_id,
                    {
                        "metadata": self._meta("revocation", sub),
                        "payload": {"subscription": self._sub_json(sub, "authorization_revoked")},
                    },
                )

    # --- controls -------------------------------------------------------------------------

    def refuse_next_send(self, code: str = "msg_duplicate", message: str = "duplicate") -> None:
        """The next chat message comes back is_sent=false with this drop reason."""
        self._refuse.append((code, message))

    def fail_subscriptions(
        self, count: int = 1, status: int = 500, *, sub_type: str | None = None
    ) -> None:
        """The next `count` subscription requests (of `sub_type` only, if given) fail so."""
        self._sub_failures.extend([(status, sub_type)] * count)

    async def push_chat(
        self,
        *,
        chatter: FakeUser,
        text: str,
        broadcaster: FakeUser | None = None,
        message_id: str | None = None,
        badges: Sequence[tuple[str, str]] = (),
        reply_to: tuple[str, FakeUser] | None = None,
        bits: int = 0,
        fragments: Sequence[dict[str, Any]] | None = None,
        message_type: str = "text",
    ) -> str:
        """Deliver a chat message to every session subscribed to the channel; its id."""
        message_id = message_id or self._next_id()
        self._in_chat.add(message_id)
        delivered = 0
        for sub, owner in self._subscribed("channel.chat.message"):
            if broadcaster is not None and owner.user_id != broadcaster.user_id:
                continue
            event = chat_event(
                broadcaster=owner,
                chatter=chatter,
                text=text,
                message_id=message_id,
                badges=badges,
                reply_to=reply_to,
                bits=bits,
                fragments=fragments,
                message_type=message_type,
            )
            delivered += await self._notification(sub, event)
        if not delivered:
            raise AssertionError("no live subscription received the chat message")
        return message_id

    def _next_id(self) -> str:
        """A message id shaped like Twitch's (a UUID), the same in every run."""
        return str(uuid.UUID(int=next(self._message_ids)))

    async def push_notification(
        self,
        kind: Literal["sub", "resub", "raid", "announcement", "sub_gift", "community_sub_gift"],
        *,
        chatter: FakeUser,
        system_message: str,
        text: str = "",
        months: int = 1,
        viewers: int = 0,
        badges: Sequence[tuple[str, str]] = (),
        recipient: FakeUser | None = None,
        community_gift_id: str | None = None,
        total: int = 1,
    ) -> str:
        """A `channel.chat.notification`: a sub, a resub, a raid, an announcement, a gift sub
        (to `recipient`, part of `community_gift_id` if given) or a community gift of `total`;
        its id.

        Replies cannot thread under it (its id is not one chat messages may reply to).
        """
        message_id = self._next_id()
        gifted = recipient or chatter
        details: dict[str, Any] = {
            "sub": {"sub_tier": "1000", "is_prime": False, "duration_months": months},
            "resub": {
                "cumulative_months": months, "duration_months": 1, "streak_months": None,
                "sub_tier": "1000", "is_prime": False, "is_gift": False,
                "gifter_is_anonymous": None, "gifter_user_id": None,
                "gifter_user_login": None, "gifter_user_name": None,
            },
            "raid": {
                "user_id": chatter.user_id, "user_login": chatter.login,
                "user_name": chatter.display_name, "viewer_count": viewers,
                "profile_image_url": "https://example.invalid/raider.png",
            },
            "announcement": {"color": "PRIMARY"},
            "sub_gift": {
                "duration_months": 1, "cumulative_total": None,
                "recipient_user_id": gifted.user_id, "recipient_user_name": gifted.display_name,
                "recipient_user_login": gifted.login, "sub_tier": "1000",
                "community_gift_id": community_gift_id,
            },
            "community_sub_gift": {
                "id": community_gift_id or "gift-1", "total": total, "sub_tier": "1000",
                "cumulative_total": None,
            },
        }  # fmt: skip
        delivered = 0
        for sub, owner in self._subscribed("channel.chat.notification"):
            event: dict[str, Any] = {
                **_broadcaster_fields(owner),
                "chatter_user_id": chatter.user_id,
                "chatter_user_login": chatter.login,
                "chatter_user_name": chatter.display_name,
                "chatter_is_anonymous": False,
                "color": "#1E90FF",
                "badges": [{"set_id": s, "id": i, "info": ""} for s, i in badges],
                "system_message": system_message,
                "message_id": message_id,
                "message": {"text": text, "fragments": [
                    {"type": "text", "text": text, "cheermote": None, "emote": None,
                     "mention": None}
                ] if text else []},
                "notice_type": kind,
                **dict.fromkeys(NOTIFICATION_DETAILS),
                kind: details[kind],
            }  # fmt: skip
            delivered += await self._notification(sub, event)
        if not delivered:
            raise AssertionError("no live subscription received the notification")
        return message_id

    async def push_gift_bomb(self, *, gifter: FakeUser, recipients: Sequence[FakeUser]) -> None:
        """A community gift as Twitch sends it: its own notice, then one per sub gifted."""
        gift_id = f"gift-{self._next_id()}"
        count = len(recipients)
        await self.push_notification(
            "community_sub_gift",
            chatter=gifter,
            system_message=f"{gifter.display_name} is gifting {count} Tier 1 Subs to the "
            "community!",
            community_gift_id=gift_id,
            total=count,
        )
        for recipient in recipients:
            await self.push_notification(
                "sub_gift",
                chatter=gifter,
                system_message=f"{gifter.display_name} gifted a Tier 1 sub to "
                f"{recipient.display_name}!",
                recipient=recipient,
                community_gift_id=gift_id,
            )

    async def push_follow(self, follower: FakeUser) -> None:
        """A `channel.follow` (v2) to every session subscribed to follows of the channel."""
        delivered = 0
        for sub, owner in self._subscribed("channel.follow"):
            event = {
                **_broadcaster_fields(owner),
                "user_id": follower.user_id,
                "user_login": follower.login,
                "user_name": follower.display_name,
                "followed_at": _stamp(),
            }
            delivered += await self._notification(sub, event)
        if not delivered:
            raise AssertionError("no live channel.follow subscription received the follow")

    def _subscribed(self, sub_type: str) -> list[tuple[_Sub, FakeUser]]:
        """The live subscriptions of a type, each with the broadcaster it is for."""
        return [
            (sub, self.users[sub.condition["broadcaster_user_id"]])
            for sub in self.subscriptions
            if sub.active and sub.type == sub_type
        ]

    async def push_moderation(
        self,
        kind: Literal["delete", "clear_user", "clear"],
        *,
        target: FakeUser | None = None,
        message_id: str | None = None,
    ) -> None:
        """A moderator deletes one message, clears a user's messages (ban, timeout) or all chat."""
        sub_type = MODERATION_TYPES[kind]
        delivered = 0
        for sub, owner in self._subscribed(sub_type):
            event: dict[str, Any] = _broadcaster_fields(owner)
            if kind != "clear":
                assert target is not None, "delete and clear_user name whose messages go"
                event |= {
                    "target_user_id": target.user_id,
                    "target_user_login": target.login,
                    "target_user_name": target.display_name,
                }
            if kind == "delete":
                assert message_id is not None, "delete names the message"
                event["message_id"] = message_id
            delivered += await self._notification(sub, event)
        if not delivered:
            raise AssertionError(f"no live {sub_type} subscription received it")

    async def _notification(self, sub: _Sub, event: dict[str, Any]) -> bool:
        """Send one event to the subscription's session; whether it was still there."""
        frame = {
            "metadata": self._meta("notification", sub),
            "payload": {"subscription": self._sub_json(sub, "enabled"), "event": event},
        }
        return await self._send_to(sub.session_id, frame)

    async def drop_websocket(self) -> None:
        """Close every websocket as a network failure would; subscriptions die with them."""
        for session in list(self._live.values()):
            await session.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"dropped")
        for sub in self.subscriptions:
            sub.active = False

    async def send_reconnect(self) -> None:
        """Ask every live session to move to a new websocket URL (subscriptions follow it)."""
        for session in list(self._live.values()):
            await session.ws.send_json(
                {
                    "metadata": {
                        "message_id": str(uuid.uuid4()),
                        "message_type": "session_reconnect",
                        "message_timestamp": _stamp(),
                    },
                    "payload": {
                        "session": {
                            "id": session.id,
                            "status": "reconnecting",
                            "keepalive_timeout_seconds": None,
                            "reconnect_url": f"{self.eventsub_url}?migrate={session.id}",
                            "connected_at": _stamp(),
                        }
                    },
                }
            )

    async def wait_for_subscriptions(self, count: int) -> None:
        """Until `count` subscriptions have been created in all."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.subscriptions) >= count)

    async def wait_for_active_subscriptions(self, count: int) -> None:
        """Until `count` subscriptions are alive at once."""
        async with self._changed:
            await self._changed.wait_for(lambda: sum(s.active for s in self.subscriptions) >= count)

    async def wait_for_sent(self, count: int) -> None:
        """Until `count` chat messages have been posted."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.sent) >= count)

    async def wait_for_reply_to(self, message_id: str) -> None:
        """Until a chat message threaded under this one has been posted."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: any(s.reply_parent_message_id == message_id for s in self.sent)
            )

    async def wait_for_sessions(self, count: int) -> None:
        """Until `count` websocket sessions have been welcomed in all."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.sessions) >= count)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- frames ---------------------------------------------------------------------------

    def _meta(self, kind: str, sub: _Sub) -> dict[str, str]:
        return {
            "message_id": str(uuid.uuid4()),
            "message_type": kind,
            "message_timestamp": _stamp(),
            "subscription_type": sub.type,
            "subscription_version": sub.version,
        }

    def _sub_json(self, sub: _Sub, status: str) -> dict[str, Any]:
        return {
            "id": sub.id,
            "status": status,
            "type": sub.type,
            "version": sub.version,
            "cost": 0,
            "condition": sub.condition,
            "transport": {"method": "websocket", "session_id": sub.session_id},
            "created_at": _stamp(),
        }

    async def _send_to(self, session_id: str, frame: dict[str, Any]) -> bool:
        session = self._live.get(session_id)
        if session is None or session.ws.closed:
            return False
        await session.ws.send_json(frame)
        return True

    # --- handlers -------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response(
            {"error": _REASONS.get(status, "Error"), "status": status, "message": message},
            status=status,
        )

    async def _form(self, request: web.Request) -> dict[str, str]:
        # twitchio sends OAuth parameters in the query string, cohost in a form body.
        values = dict(request.query.items())
        if request.can_read_body:
            post = await request.post()
            values.update({k: str(v) for k, v in post.items()})
        return values

    async def _token(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        grant = form.get("grant_type", "")
        self.token_requests.append(grant)
        if form.get("client_id") != self.client_id:
            return self._error(400, "invalid client")
        if grant == "client_credentials":
            if form.get("client_secret") != self.client_secret:
                return self._error(403, "invalid client secret")
            token = "app_" + secrets.token_hex(12)
            self._app_tokens.add(token)
            return web.json_response(
                {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "bearer"}
            )
        if grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            user = next((u for u in self.users.values() if refresh and u.refresh == refresh), None)
            if user is None:
                return self._error(400, "Invalid refresh token")
            self._issue(user)
            return self._grant(user)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            code = form.get("device_code", "")
            if code not in self._devices:
                return self._error(400, "invalid device code")
            scopes, polls = self._devices[code]
            if polls < self.device_pending_polls:
                self._devices[code] = (scopes, polls + 1)
                return self._error(400, "authorization_pending")
            del self._devices[code]
            assert self.device_user is not None
            self.device_user.scopes = scopes
            self._issue(self.device_user)
            return self._grant(self.device_user)
        return self._error(400, "unsupported grant type")

    @staticmethod
    def _grant(user: FakeUser) -> web.Response:
        return web.json_response(
            {
                "access_token": user.token,
                "refresh_token": user.refresh,
                "expires_in": TOKEN_LIFETIME_S,
                "scope": list(user.scopes),
                "token_type": "bearer",
            }
        )

    async def _device(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        if form.get("client_id") != self.client_id or self.device_user is None:
            return self._error(400, "invalid client")
        code = "dev_" + secrets.token_hex(8)
        scopes = tuple(form.get("scopes", "").replace("+", " ").split())
        self._devices[code] = (scopes, 0)
        return web.json_response(
            {
                "device_code": code,
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://www.twitch.tv/activate?public=true&device-code=X",
                "expires_in": 1800,
                "interval": self.device_interval,
            }
        )

    async def _validate(self, request: web.Request) -> web.Response:
        # Twitch documents `OAuth <token>`; twitchio sends `Bearer <token>` too, and it works.
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("OAuth ").removeprefix("Bearer ").strip()
        if token in self._app_tokens:
            return web.json_response(
                {"client_id": self.client_id, "scopes": [], "expires_in": TOKEN_LIFETIME_S}
            )
        user = self._user_by_token(token)
        if user is None:
            return self._error(401, "invalid access token")
        return web.json_response(
            {
                "client_id": self.client_id,
                "login": user.login,
                "user_id": user.user_id,
                "scopes": list(user.scopes),
                "expires_in": TOKEN_LIFETIME_S,
            }
        )

    def _bearer(self, request: web.Request) -> tuple[str, FakeUser | None, bool]:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return token, self._user_by_token(token), token in self._app_tokens

    async def _subscribe(self, request: web.Request) -> web.Response:
        _, user, _ = self._bearer(request)
        if user is None:
            return self._error(401, "Invalid OAuth token")
        body = await request.json()
        for i, (status, only) in enumerate(self._sub_failures):
            if only is None or only == body["type"]:
                del self._sub_failures[i]
                return self._error(status, "subscription failed (scripted)")
        session_id = body["transport"]["session_id"]
        if session_id not in self._live:
            return self._error(400, "websocket transport session does not exist")
        sub = _Sub(
            id=str(uuid.uuid4()),
            type=body["type"],
            version=body["version"],
            condition={k: str(v) for k, v in body["condition"].items()},
            session_id=session_id,
            user_id=user.user_id,
        )
        self.subscriptions.append(sub)
        await self._notify()
        return web.json_response(
            {"data": [self._sub_json(sub, "enabled")], "total": 1, "total_cost": 0,
             "max_total_cost": 10},
            status=202,
        )  # fmt: skip

    async def _chat_message(self, request: web.Request) -> web.Response:
        token, user, is_app = self._bearer(request)
        if user is None and not is_app:
            return self._error(401, "Invalid OAuth token")
        body = await request.json()
        parent = body.get("reply_parent_message_id")
        if parent and parent not in self._in_chat:
            # as Twitch does: a reply must thread under a message chat holds
            return self._error(400, "The parent message ID is not valid")
        message_id = self._next_id()
        self._in_chat.add(message_id)
        refusal = self._refuse.pop(0) if self._refuse else None
        self.sent.append(
            SentChat(
                text=body["message"],
                broadcaster_id=str(body["broadcaster_id"]),
                sender_id=str(body["sender_id"]),
                reply_parent_message_id=body.get("reply_parent_message_id"),
                token=token,
                at=time.time(),
                is_sent=refusal is None,
                message_id=message_id,
            )
        )
        await self._notify()
        if refusal is None:
            await self._echo(body, message_id)
        drop = None if refusal is None else {"code": refusal[0], "message": refusal[1]}
        return web.json_response(
            {"data": [{"message_id": "" if drop else message_id, "is_sent": drop is None,
                       "drop_reason": drop}]}
        )  # fmt: skip

    async def _echo(self, body: dict[str, Any], message_id: str) -> None:
        """A message sent through Helix reaches chat, its sender's reader included, as on Twitch."""
        sender = self.users.get(str(body["sender_id"]))
        owner = self.users.get(str(body["broadcaster_id"]))
        if sender is None or owner is None:
            return
        event = chat_event(
            broadcaster=owner,
            chatter=sender,
            text=body["message"],
            message_id=message_id,
            badges=self.badges.get(sender.user_id, ()),
        )
        for sub in self.subscriptions:
            ours = sub.condition.get("broadcaster_user_id") == owner.user_id
            if sub.active and sub.type == "channel.chat.message" and ours:
                await self._notification(sub, event)

    async def _get_users(self, request: web.Request) -> web.Response:
        _, user, is_app = self._bearer(request)
        if user is None and not is_app:
            return self._error(401, "Invalid OAuth token")
        ids = set(request.query.getall("id", []))
        logins = set(request.query.getall("login", []))
        found = [u for u in self.users.values() if u.user_id in ids or u.login in logins]
        return web.json_response(
            {"data": [{"id": u.user_id, "login": u.login, "display_name": u.display_name,
                       "type": "", "broadcaster_type": "", "description": "",
                       "profile_image_url": "", "offline_image_url": "", "view_count": 0,
                       "created_at": _stamp()} for u in found]}
        )  # fmt: skip

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = _Session(id=str(uuid.uuid4()), ws=ws)
        migrated = request.query.get("migrate")
        self._live[session.id] = session
        await ws.send_json(
            {
                "metadata": {
                    "message_id": str(uuid.uuid4()),
                    "message_type": "session_welcome",
                    "message_timestamp": _stamp(),
                },
                "payload": {
                    "session": {
                        "id": session.id,
                        "status": "connected",
                        "connected_at": _stamp(),
                        "keepalive_timeout_seconds": 10,
                        "reconnect_url": None,
                    }
                },
            }
        )
        if migrated:
            # Twitch moves the old session's subscriptions to the new one.
            for sub in self.subscriptions:
                if sub.session_id == migrated and sub.active:
                    sub.session_id = session.id
        self.sessions.append(session.id)
        await self._notify()
        keepalive = asyncio.create_task(self._keepalive(session))
        self._tasks.add(keepalive)
        try:
            async for _ in ws:
                pass  # EventSub clients never send; anything they do is ignored
        finally:
            keepalive.cancel()
            self._tasks.discard(keepalive)
            self._live.pop(session.id, None)
            for sub in self.subscriptions:
                if sub.session_id == session.id:
                    sub.active = False
        return ws

    async def _keepalive(self, session: _Session) -> None:
        while not session.ws.closed:
            await asyncio.sleep(self.keepalive_s)
            if session.ws.closed:
                return
            await session.ws.send_json(
                {
                    "metadata": {
                        "message_id": str(uuid.uuid4()),
                        "message_type": "session_keepalive",
                        "message_timestamp": _stamp(),
                    },
                    "payload": {},
                }
            )


def _broadcaster_fields(owner: FakeUser) -> dict[str, Any]:
    """The broadcaster_user_* fields every EventSub event for a channel carries."""
    return {
        "broadcaster_user_id": owner.user_id,
        "broadcaster_user_login": owner.login,
        "broadcaster_user_name": owner.display_name,
    }
