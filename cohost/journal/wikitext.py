"""TiddlyWiki markup as the words a reader sees (pure).

Imported tiddlers are written in WikiText, often with HTML in it: a book review from Goodreads
is mostly `<a href=…>` and `<img …>`, a template is a `{{||$:/…}}` transclusion. Embedded as
they are, the markup drowns the words, and recall misses the entry ("murderbot book" finds no
review of a Murderbot book). `plain_text` keeps what a reader of the rendered tiddler would
read: link texts, the words inside formatting, list items without their bullets; it drops
tags, widgets, macro calls, transclusions and images. Text without markup comes back as it
was, bar spacing, so the streamer's own entries are not changed by it.
"""

from __future__ import annotations

import html
import re

_TRANSCLUSION = re.compile(r"\{\{\{.*?\}\}\}|\{\{.*?\}\}", re.DOTALL)
_MACRO = re.compile(r"<<.*?>>", re.DOTALL)
_IMAGE = re.compile(r"\[img[^\[\]]*\[[^\]]*\]\]")
_EXTERNAL = re.compile(r"\[ext\[(?:([^|\]]*)\|)?([^\]]*)\]\]")
_LINK = re.compile(r"\[\[(?:([^|\]]*)\|)?([^\]]*)\]\]")
_BREAK = re.compile(r"<br\s*/?\s*(?:clear=\S*\s*)?/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z$][^<>]*>")
# Inline formatting: the marks go, the words stay. `//` after a colon is a URL's, not italics.
_FORMATTING = (
    re.compile(r"''(.+?)''"),
    re.compile(r"(?<![:/])//(.+?)(?<!:)//"),
    re.compile(r"__(.+?)__"),
    re.compile(r"~~(.+?)~~"),
    re.compile(r"\^\^(.+?)\^\^"),
    re.compile(r",,(.+?),,"),
    re.compile(r"@@(.+?)@@"),
)
_LINE_MARKS = re.compile(r"^[ \t]*(?:!{1,6}|[*#;:>]+)[ \t]+", re.MULTILINE)
_RULE_OR_FENCE = re.compile(r"^[ \t]*(?:-{3,}|`{3}\w*|\"{3})[ \t]*$", re.MULTILINE)
_EMPTY_CODE = re.compile(r"`[ \t]*`")  # a code span whose widget went
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def plain_text(text: str) -> str:
    """The words of a WikiText (or HTML, or plain) text, without its markup."""
    text = _TRANSCLUSION.sub(" ", text)
    text = _MACRO.sub(" ", text)
    text = _IMAGE.sub(" ", text)
    text = _EXTERNAL.sub(lambda m: m[1] or m[2], text)
    text = _LINK.sub(lambda m: m[1] or m[2], text)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    text = _EMPTY_CODE.sub("", text)
    for pattern in _FORMATTING:
        text = pattern.sub(r"\1", text)
    text = _RULE_OR_FENCE.sub("", text)
    text = _LINE_MARKS.sub("", text)
    text = html.unescape(text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
