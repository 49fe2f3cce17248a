"""Readers for logged Twitch chat: raw IRC, Chatterino, tcd, rechat / TwitchDownloader JSON, CSV.

`open_log(path)` detects the format and returns a `ChatLog` that streams `ChatEvent`s lazily;
`inspect_log` summarises a log in one pass and `format_summary` renders that for people.
"""

from cohost.chatlog.base import ReadStats
from cohost.chatlog.detect import detect_format
from cohost.chatlog.log import FORMATS, ChatLog, open_log
from cohost.chatlog.summary import LogSummary, format_summary, inspect_log

__all__ = [
    "FORMATS",
    "ChatLog",
    "LogSummary",
    "ReadStats",
    "detect_format",
    "format_summary",
    "inspect_log",
    "open_log",
]
