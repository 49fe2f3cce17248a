"""Privacy tiers from tags."""

from __future__ import annotations

import pytest

from cohost.app.settings import load_settings
from cohost.core.events import Tier
from cohost.core.options import JournalSettings
from cohost.journal.tiers import tier_of


@pytest.mark.parametrize(
    ("tags", "tier"),
    [
        ((), Tier.PRIVATE),
        (("stream", "games"), Tier.PRIVATE),
        (("public",), Tier.PUBLIC),
        (("private",), Tier.PRIVATE),
        (("secret",), Tier.SECRET),
        (("public", "private"), Tier.PRIVATE),
        (("public", "secret"), Tier.SECRET),
        (("private", "secret", "public"), Tier.SECRET),
        (("Public",), Tier.PUBLIC),
        (("SECRET", "public"), Tier.SECRET),
        (("publicly",), Tier.PRIVATE),
        (("not secret",), Tier.PRIVATE),
    ],
)
def test_default_tag_names(tags: tuple[str, ...], tier: Tier) -> None:
    assert tier_of(tags) is tier
    assert tier_of(tags, JournalSettings()) is tier


def test_tag_names_are_configurable() -> None:
    names = JournalSettings(public_tag="quote-me", private_tag="mine", secret_tag="vault")
    assert tier_of(["quote-me"], names) is Tier.PUBLIC
    assert tier_of(["quote-me", "mine"], names) is Tier.PRIVATE
    assert tier_of(["Vault", "quote-me"], names) is Tier.SECRET
    # The default names mean nothing once renamed: "public" is just a tag, so private.
    assert tier_of(["public"], names) is Tier.PRIVATE
    assert tier_of(["secret"], names) is Tier.PRIVATE


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHOST_JOURNAL__SECRET_TAG", "hush")
    monkeypatch.setenv("COHOST_JOURNAL__TOKEN", "s3cret-token")
    settings = load_settings()
    assert tier_of(["hush"], settings.journal) is Tier.SECRET
    assert settings.journal.token is not None
    assert settings.journal.token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(settings.journal)
