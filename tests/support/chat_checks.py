"""One reader of what a chat message must never be, shared by the real-model tests and benches.

Written apart from the guard on purpose: it checks the product from outside, by what a viewer
would see, so a guard that misses something cannot also pass its own check.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection

# The fusion prompt's structure: code fences and Markdown headings.
_FENCE_OR_HEADING = re.compile(r"```|^\s*#{1,6}\s", re.MULTILINE)
# A speaker label: a name and a colon at the start of the text or of a line.
_LABEL = re.compile(r"^\s*[\"*_]*@?(\w{2,25})[\"*_]*\s*:(?:\s|$)", re.MULTILINE)
MAX_CHAT = 500  # Twitch's limit for one message


def runaway(text: str) -> bool:
    """Whether any three words in a row come back three times or more."""
    words = re.findall(r"\w+", text.casefold())
    grams = Counter(zip(words, words[1:], words[2:], strict=False))
    return bool(grams) and grams.most_common(1)[0][1] >= 3


def reads_as_chat(text: str, speakers: Collection[str]) -> str:
    """Why a text sent or spoken is not one chat message of the twin's, or "" when it is.

    speakers: casefolded names of the twin and everyone in the chat.
    """
    if _FENCE_OR_HEADING.search(text):
        return "prompt structure"
    if any(m.group(1).casefold() in speakers for m in _LABEL.finditer(text)):
        return "speaker label"
    if runaway(text):
        return "runaway repetition"
    if len(text) > MAX_CHAT:
        return "longer than a chat message"
    return ""
