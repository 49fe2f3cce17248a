"""`cohost doctor`: a line per check, failures named with what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cohost.app.doctor import check_bus, check_model, check_speech, run_checks
from cohost.app.settings import load_settings
from cohost.cli.main import main
from tests.support.audio import fake_aplay, on_path, require_espeak
from tests.support.scripted_server import Script, ScriptedServer, closed_port_url


def test_defaults_pass_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["data dir"].status == "ok"
    assert checks["simulator"].status == "ok" and "embedded" in checks["simulator"].detail
    assert checks["twitch token"].status == "warn"
    assert "cohost auth" in checks["twitch token"].fix


def test_unreachable_servers_fail_with_what_to_do(tmp_path: Path) -> None:
    check = check_model("auto", closed_port_url(), "simulator", "COHOST_SIMULATOR__URL")
    assert check.status == "fail"
    assert "unreachable" in check.detail and "start the server" in check.line()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = load_settings(data_dir=tmp_path, bus={"mqtt_host": "127.0.0.1", "mqtt_port": port})
    assert check_bus(settings).status == "fail"


async def test_a_serving_model_is_ok() -> None:
    async with ScriptedServer() as server:
        import asyncio  # noqa: PLC0415

        check = await asyncio.to_thread(
            check_model, "openai", server.url, "rewriter", "COHOST_REWRITER__URL"
        )
    assert check.status == "ok" and "twin" in check.detail


async def test_a_server_that_lists_models_but_cannot_generate_fails() -> None:
    import asyncio  # noqa: PLC0415

    # what a CPU vLLM in bf16 does on a CPU it cannot run bf16 on: /models answers, tokens never
    async with ScriptedServer(Script(status=500)) as server:
        broken = await asyncio.to_thread(
            check_model, "openai", server.url, "simulator", "S", model="twin"
        )
        chat = await asyncio.to_thread(
            check_model, "openai", server.url, "rewriter", "R", model="twin", chat=True
        )
    assert broken.status == "fail" and chat.status == "fail"
    assert "serves twin but cannot generate with 'twin'" in broken.detail
    assert "HTTP 500" in broken.detail and "scripted failure 500" in broken.detail
    assert "--dtype float32" in broken.line()
    assert server.requests[-1].path == "/v1/chat/completions"
    async with ScriptedServer() as server:
        fine = await asyncio.to_thread(
            check_model, "openai", server.url, "rewriter", "R", model="twin", chat=True
        )
    assert fine.status == "ok" and "generates with 'twin'" in fine.detail
    assert server.requests[0].body["max_tokens"] == 1


def test_cli_exit_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    assert main(["doctor"]) == 0
    monkeypatch.setenv("COHOST_SIMULATOR__URL", closed_port_url())
    assert main(["doctor"]) == 1


def test_speech_check_speaks(tmp_path: Path) -> None:
    require_espeak()
    settings = load_settings(data_dir=tmp_path, speech={"engine": "espeak"})
    check = {c.name: c for c in run_checks(settings)}["speech"]
    assert check.status == "ok", check.line()


def test_speech_check_says_where_the_voice_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_espeak()
    fake_aplay(tmp_path / "bin", card=False)
    on_path(monkeypatch, tmp_path / "bin")
    check = check_speech(load_settings(data_dir=tmp_path))  # the default voice
    assert check.status == "ok"
    assert "espeak spoke" in check.detail
    assert f"WAV files to {tmp_path / 'speech'} (no sound card)" in check.detail


def test_speech_check_without_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    default = check_speech(load_settings(data_dir=tmp_path))
    assert default.status == "warn" and "captions only" in default.detail
    assert "apt-get install espeak-ng" in default.line()
    chosen = check_speech(load_settings(data_dir=tmp_path, speech={"engine": "espeak"}))
    assert chosen.status == "fail"


def test_speech_check_for_an_http_voice_is_not_billed(tmp_path: Path) -> None:
    missing = check_speech(load_settings(data_dir=tmp_path, speech={"engine": "http"}))
    assert missing.status == "fail" and "COHOST_SPEECH__HTTP_URL" in missing.fix
    url = closed_port_url()  # never asked: a request would be billed
    settings = load_settings(
        data_dir=tmp_path,
        speech={"engine": "http", "http_url": url, "http_voice_id": "v1", "output": "wav"},
    )
    check = check_speech(settings)
    assert check.status == "ok" and "not probed" in check.detail
