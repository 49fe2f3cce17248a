"""The `!twin` commands page: read-only, public, from the controller's own table (`commands()`).

Moderators and viewers look commands up here as they do on Nightbot's page: what each does,
who may use it, its other names and cooldowns. It is the same table `!twin help` reads, so
the page never says something chat would not do.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from cohost.control.controller import CommandInfo

# How the page says each level, as chat bots' pages do.
WHO: dict[str, str] = {
    "broadcaster": "the streamer",
    "moderator": "moderators",
    "vip": "VIPs",
    "subscriber": "subscribers",
    "everyone": "everyone",
}


def _seconds(value: float) -> str:
    if value <= 0:
        return "none"
    return f"{value:g} s" if value < 120 else f"{value / 60:g} min"


def who_may(level: str) -> str:
    """The people a level lets in: "moderators and up", "the streamer", "everyone"."""
    said = WHO.get(level, level)
    return said if level in ("broadcaster", "everyone") else f"{said} and up"


def render_commands_page(commands: Sequence[CommandInfo], *, bypass: str = "moderator") -> str:
    """The whole page; every text is escaped (an added command's words come from settings)."""
    rows = []
    for c in commands:
        aliases = ", ".join(f"<code>{html.escape(a)}</code>" for a in c.aliases) or "—"
        rows.append(
            f'<tr id="cmd-{html.escape(c.name)}" data-command="{html.escape(c.name)}">'
            f"<td><code>{html.escape(c.usage)}</code></td>"
            f"<td>{html.escape(c.description)}</td>"
            f'<td class="who" data-level="{html.escape(c.level)}">'
            f"{html.escape(who_may(c.level))}</td>"
            f"<td>{aliases}</td>"
            f'<td class="cd">{_seconds(c.cooldown_s)}</td>'
            f'<td class="cd">{_seconds(c.user_cooldown_s)}</td>'
            "</tr>"
        )
    skip = who_may(bypass) if bypass != "broadcaster" else "only the streamer"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Co-host commands</title>
<link rel="stylesheet" href="/static/commands.css">
</head>
<body>
<main>
<h1>Co-host commands</h1>
<p>Type them in chat. Words after a command that takes none are ignored
(<code>pause please</code> pauses). Cooldowns: the first is shared by everyone, the second is
per person; {html.escape(skip)} skip both. A refused command gets no answer in chat.</p>
<table id="commands">
<thead><tr><th>command</th><th>what it does</th><th>who may use it</th><th>also</th>
<th>cooldown</th><th>per person</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</main>
</body>
</html>
"""
