"""Privacy tiers from tags: secret beats private beats public; untagged is private."""

from __future__ import annotations

from collections.abc import Iterable

from cohost.config import JournalSettings
from cohost.events import Tier


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
