"""Privacy tiers from tags: secret beats private beats public; untagged is private."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from cohost.core.events import Tier
from cohost.core.options import JournalSettings


def tier_of(tags: Iterable[str], settings: JournalSettings | None = None) -> Tier:
    """The tier an entry's tags give it; tag names compare without regard to case."""
    names = settings or JournalSettings()
    # Case-folded so that "Secret" can never slip through as an untiered (private) entry.
    folded = {tag.casefold() for tag in tags}
    if names.secret_tag.casefold() in folded:
        return Tier.SECRET
    if names.private_tag.casefold() in folded:
        return Tier.PRIVATE
    if names.public_tag.casefold() in folded:
        return Tier.PUBLIC
    return Tier.PRIVATE


def tier_typos(tags: Iterable[str], settings: JournalSettings | None = None) -> list[str]:
    """A line for each tag that looks like a tier's tag but is not one ("pubic", "secet")."""
    names = settings or JournalSettings()
    tier_tags = [names.public_tag, names.private_tag, names.secret_tag]
    folded = {tag.casefold() for tag in tier_tags}
    found = []
    for tag in tags:
        if tag.casefold() in folded:
            continue
        close = difflib.get_close_matches(tag.casefold(), sorted(folded), n=1, cutoff=0.75)
        if close:
            found.append(f"tag {tag!r} is no privacy tier; did you mean {close[0]!r}?")
    return found
