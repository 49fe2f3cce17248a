"""Loopback or not: what decides binding warnings and whether a rewriter is external."""

from __future__ import annotations

import pytest

from cohost.adapters.openai_models import rewriter_where
from cohost.core.net import is_loopback, url_is_local
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
