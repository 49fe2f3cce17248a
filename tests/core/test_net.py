"""Loopback or not (binding warnings, whether a rewriter is external), and what may be logged."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from cohost.adapters.openai_models import rewriter_where
from cohost.core.net import address, is_loopback, masked, url_is_local
from cohost.core.options import RewriterSettings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.4", "api.openai.com", "", "::"])
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_a_cloud_rewriter_is_external_unless_told() -> None:
    assert url_is_local("http://127.0.0.1:8000/v1")
    cloud = RewriterSettings(url="https://api.openai.com/v1")
    assert rewriter_where(cloud) == "external"  # private entries are redacted by default
    assert rewriter_where(RewriterSettings(url="http://localhost:8000/v1")) == "local"
    assert rewriter_where(RewriterSettings(url="https://x.example/v1", where="local")) == "local"


def test_an_address_as_logged_has_no_user_password_or_query() -> None:
    shown = address("https://me:hunter2@tts.example:8443/v1/audio/speech?key=abc#frag")
    assert shown == "https://tts.example:8443/v1/audio/speech"
    assert address("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_a_key_echoed_back_is_masked() -> None:
    key = SecretStr("sk-live-123")
    assert masked("bad key sk-live-123 (sk-live-123)", key) == "bad key *** (***)"
    assert masked("no key here", None) == "no key here"
    assert masked("empty key", SecretStr("")) == "empty key"
