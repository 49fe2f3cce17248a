"""The write-only journal page: one text box, never a view of earlier entries.

Works without JavaScript (a plain form POST, then Post/Redirect/Get). Writing needs the
journal token: given once as `/?token=…` or in the form's token field, then remembered in an
HttpOnly, SameSite=Strict cookie that holds a keyed hash of the token, not the token itself.
Every form also carries a CSRF value that must match its cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from collections.abc import Callable, Sequence
from string import Template

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from cohost.journal.store import Entry, JournalStore
from cohost.journal.tid import parse_tags
from cohost.journal.tiers import tier_typos
from cohost.web.hosts import LoopbackHosts, TrustedHosts

log = logging.getLogger(__name__)

AUTH_COOKIE = "journal_auth"
CSRF_COOKIE = "journal_csrf"
MAX_BODY_BYTES = 256 * 1024  # a long entry is a few KiB; anything near this is not an entry
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie: enter the token once
_HOST_ADVICE = "open the journal page as localhost or 127.0.0.1"

_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Journal</title>
<link rel="stylesheet" href="/journal.css">
</head>
<body>
<main>
<h1>Journal</h1>
$notice
<form method="post" action="/" autocomplete="off">
<input type="hidden" name="csrf" value="$csrf">
<label for="text">Write it down</label>
<textarea id="text" name="text" rows="9" required autofocus>$text</textarea>
<label for="tags">Tags <span class="hint">(optional; $tier_hint)</span></label>
<input id="tags" name="tags" type="text" value="$tags" autocapitalize="none" spellcheck="false">
$token_field
<button type="submit">Save</button>
</form>
</main>
</body>
</html>
""")

_TOKEN_FIELD = """<label for="token">Token <span class="hint">(asked once)</span></label>
<input id="token" name="token" type="password" autocomplete="current-password" required>"""

_CSS = """\
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #fafaf7; --line: #b9b9b0;
  --accent: #2f5d50; --soft: #5b5b55; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #ecece6; --bg: #1b1c1a; --line: #55564f; --accent: #8cc5b0; --soft: #a9a9a0; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 18px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 40rem; margin: 0 auto; padding: 1.25rem 1rem 2rem; }
h1 { font-size: 1.4rem; font-weight: 600; margin: 0 0 1rem; }
form { display: flex; flex-direction: column; gap: 0.5rem; }
label { font-weight: 600; margin-top: 0.5rem; }
.hint { font-weight: 400; color: var(--soft); font-size: 0.9rem; }
textarea, input { width: 100%; font: inherit; color: inherit; background: transparent;
  border: 1px solid var(--line); border-radius: 10px; padding: 0.75rem; }
textarea { min-height: 14rem; resize: vertical; }
input { min-height: 3rem; }
textarea:focus, input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button { margin-top: 1rem; min-height: 3.25rem; font: inherit; font-weight: 600;
  color: var(--bg); background: var(--accent); border: 0; border-radius: 10px; cursor: pointer; }
.notice { margin: 0 0 0.75rem; padding: 0.6rem 0.9rem; border-radius: 10px;
  border: 1px solid var(--line); }
.notice.ok { color: var(--accent); }
.notice.error { border-color: #b3261e; color: #b3261e; }
@media (prefers-color-scheme: dark) { .notice.error { color: #f2b8b5; border-color: #f2b8b5; } }
"""


def create_journal_app(
    store: JournalStore,
    token: SecretStr,
    on_added: Callable[[Entry], None] | None = None,
    *,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The page as an ASGI app; on_added runs on the event loop after an entry is on disk.

    A request naming a host not in `allowed_hosts` is refused (400), as the dashboard refuses
    it; without a list, one that reached a loopback address must name a loopback host.
    """
    secret = token.get_secret_value().encode("utf-8")
    if not secret:
        raise ValueError("the journal page needs a non-empty token")
    session = hmac.new(secret, b"cohost journal session v1", hashlib.sha256).hexdigest()
    names = store.settings
    tier_hint = html.escape(
        f"{names.public_tag}: may be quoted, {names.secret_tag}: never recalled; "
        f"otherwise {names.private_tag}"
    )

    def authed(request: Request) -> bool:
        return hmac.compare_digest(request.cookies.get(AUTH_COOKIE, ""), session)

    def good_token(given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode("utf-8"), secret)

    def render(
        request: Request,
        *,
        status: int = 200,
        notice: str = "",
        error: bool = False,
        text: str = "",
        tags: str = "",
        show_token: bool | None = None,
    ) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        ask_token = not authed(request) if show_token is None else show_token
        kind = "error" if error else "ok"
        body = _PAGE.substitute(
            notice=(
                f'<p class="notice {kind}" role="status">{html.escape(notice)}</p>'
                if notice
                else ""
            ),
            csrf=html.escape(csrf),
            text=html.escape(text),
            tags=html.escape(tags),
            tier_hint=tier_hint,
            token_field=_TOKEN_FIELD if ask_token else "",
        )
        response = HTMLResponse(body, status_code=status)
        set_cookie(request, response, CSRF_COOKIE, csrf)
        return _secure(response)

    def set_cookie(request: Request, response: Response, key: str, value: str) -> None:
        response.set_cookie(
            key,
            value,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    async def page(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not good_token(given):
                return render(request, status=401, notice="That token is not right.", error=True)
            # Trade the token in the address for a cookie, and get it out of the address bar.
            response = RedirectResponse("/", status_code=303)
            set_cookie(request, response, AUTH_COOKIE, session)
            return _secure(response)
        saved = request.query_params.get("saved") == "1"
        return render(request, notice="Saved." if saved else "")

    async def submit(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=8)
        text = _field(form.get("text"))
        tags_value = _field(form.get("tags"))
        given = _field(form.get("token"))
        via_form = good_token(given)
        if not (authed(request) or via_form):
            notice = "That token is not right." if given else "This page needs its token first."
            return render(
                request,
                status=401,
                notice=notice,
                error=True,
                show_token=True,
                text=text,
                tags=tags_value,
            )
        csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
        csrf_form = _field(form.get("csrf"))
        if not csrf_cookie or not hmac.compare_digest(csrf_cookie, csrf_form):
            return render(
                request,
                status=403,
                notice="The form was stale; nothing was saved. Send it again.",
                error=True,
                show_token=not authed(request),
                text=text,
                tags=tags_value,
            )
        if not text.strip():
            return render(
                request,
                status=400,
                notice="Nothing to save yet.",
                error=True,
                text=text,
                tags=tags_value,
            )
        tags = parse_tags(tags_value.replace(",", " "))
        try:
            entry = await run_in_threadpool(store.add, text, tags=tags)
        except ValueError as exc:
            return render(
                request, status=400, notice=str(exc), error=True, text=text, tags=tags_value
            )
        log.info("journal entry saved: %s", entry.id)
        typos = tier_typos(tags, names)
        if typos:
            log.warning("journal entry %s saved as %s: %s", entry.id, entry.tier, "; ".join(typos))
        if on_added is not None:
            try:
                on_added(entry)
            except Exception:
                # The entry is on disk and the index can be rebuilt: the writer hears "Saved."
                log.exception("on_added failed for journal entry %s", entry.id)
        if typos:
            # Said on the page itself, not after a redirect: the writer fixes the tag now.
            notice = f"Saved as {entry.tier}, but {'; '.join(typos)}"
            response = render(request, notice=notice, error=True, show_token=False)
        else:
            response = RedirectResponse("/?saved=1", status_code=303)
        if via_form:
            set_cookie(request, response, AUTH_COOKIE, session)
        return _secure(response)

    async def css(request: Request) -> Response:
        return _secure(Response(_CSS, media_type="text/css"))

    return Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/", submit, methods=["POST"]),
            Route("/journal.css", css, methods=["GET"]),
        ],
        max_body_size=MAX_BODY_BYTES,
        middleware=[
            Middleware(TrustedHosts, allowed_hosts=list(allowed_hosts), advice=_HOST_ADVICE)
            if allowed_hosts
            else Middleware(LoopbackHosts, advice=_HOST_ADVICE)
        ],
    )


def _field(value: object) -> str:
    return value if isinstance(value, str) else ""


def _secure(response: Response) -> Response:
    response.headers.update(_HEADERS)
    return response
