"""`cohost doctor`: a line per check, failures named with what to do."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from cohost.app.doctor import (
    check_bus,
    check_control,
    check_live,
    check_model,
    check_speech,
    check_twin,
    run_checks,
)
from cohost.app.settings import load_settings, login_of
from cohost.cli.main import main
from cohost.core.errors import SettingsError
from tests.adapters.test_mqtt import Broker, broker  # noqa: F401 (a fixture)
from tests.adapters.test_mqtt_control import SECRET, USERS, secured_broker  # noqa: F401
from tests.app.test_replay_commands import irc
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


def test_an_anonymous_broker_is_a_warning(
    tmp_path: Path,
    broker: Broker,  # noqa: F811 (the fixture)
) -> None:
    bus = {"mqtt_host": "127.0.0.1", "mqtt_port": broker.port}
    anonymous = check_bus(load_settings(data_dir=tmp_path, bus=bus))
    # even when cohost itself logs in: the broker lets anyone else in without one
    named = check_bus(
        load_settings(data_dir=tmp_path, bus={**bus, "username": "cohost", "password": "pw"})
    )
    for check in (anonymous, named):
        assert check.status == "warn", check.line()
        assert "accepts anonymous clients" in check.detail
        assert "allow_anonymous false" in check.fix


def test_a_secured_broker_is_ok_and_a_wrong_login_fails(
    tmp_path: Path,
    secured_broker: Broker,  # noqa: F811 (the fixture)
) -> None:
    bus = {"mqtt_host": "127.0.0.1", "mqtt_port": secured_broker.port, "username": "cohost"}
    good = check_bus(load_settings(data_dir=tmp_path, bus={**bus, "password": USERS["cohost"]}))
    assert good.status == "ok", good.line()
    assert "refuses anonymous" in good.detail
    wrong = check_bus(load_settings(data_dir=tmp_path, bus={**bus, "password": "not-it-at-all"}))
    assert wrong.status == "fail" and "refused cohost's login as 'cohost'" in wrong.detail
    assert "COHOST_BUS__PASSWORD" in wrong.fix and "not-it-at-all" not in wrong.line()
    nobody = check_bus(
        load_settings(
            data_dir=tmp_path, bus={"mqtt_host": "127.0.0.1", "mqtt_port": secured_broker.port}
        )
    )
    assert nobody.status == "fail" and "anonymously" in nobody.detail


def test_control_without_a_secret_is_a_warning(tmp_path: Path) -> None:
    def control(**bus: object) -> tuple[str, str]:
        check = check_control(load_settings(data_dir=tmp_path, bus={"mqtt_host": "h", **bus}))
        assert SECRET not in check.line()
        return check.status, check.line()

    status, line = control(control_client="streamdeck")
    assert status == "warn" and "every command is refused" in line
    assert "COHOST_BUS__CONTROL_SECRET" in line
    status, line = control(control_client="streamdeck", control_secret=SECRET)
    assert status == "ok" and "signed by 'streamdeck'" in line
    assert control(control_secret=SECRET)[0] == "warn"  # a secret, but nobody to hold it
    assert control() == ("ok", "ok   mqtt control: off (COHOST_BUS__CONTROL_CLIENT is empty)")
    assert control(control_client="streamdeck", control_secret="")[0] == "warn"
    with pytest.raises(SettingsError, match="COHOST_BUS__CONTROL_SECRET") as refused:
        load_settings(data_dir=tmp_path, bus={"control_secret": "short-secret"})
    assert "short-secret" not in str(refused.value) and "16 characters" in str(refused.value)


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


# ---- what a live stream needs (issue #19) -----------------------------------------------------


def test_each_missing_live_setting_is_its_own_warning(tmp_path: Path) -> None:
    checks = {c.name: c for c in run_checks(load_settings(data_dir=tmp_path / "data"))}
    for name, setting in [
        ("streamer", "COHOST_TWIN__STREAMER"),
        ("web token", "COHOST_WEB__TOKEN"),
        ("journal token", "COHOST_JOURNAL__TOKEN"),
    ]:
        assert checks[name].status == "warn", name
        assert setting in checks[name].fix
    assert "live settings" not in checks
    # the channel is the streamer's login: one setting, one warning that names both
    assert "twitch channel" not in checks
    assert "COHOST_TWITCH__CHANNEL follows it" in checks["streamer"].fix


@pytest.mark.parametrize(
    "given", [{"twitch": {"channel": "MossByte"}}, {"twin": {"streamer": "#mossbyte"}}]
)
def test_either_the_channel_or_the_streamer_sets_both(
    tmp_path: Path, given: dict[str, Any]
) -> None:
    settings = load_settings(data_dir=tmp_path / "data", **given)
    assert (settings.twin.streamer, login_of(settings.twitch.channel)) == ("mossbyte", "mossbyte")
    checks = {c.name: c for c in run_checks(settings)}
    assert "streamer" not in checks and "twitch channel" not in checks


def test_a_channel_and_a_streamer_that_differ_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            data_dir=tmp_path / "data", twitch={"channel": "mossbyte"}, twin={"streamer": "other"}
        )
    said = str(caught.value)
    assert "COHOST_TWIN__STREAMER ('other')" in said
    assert "COHOST_TWITCH__CHANNEL ('mossbyte')" in said
    # the same login written two ways is one account, not a conflict
    same = load_settings(twitch={"channel": "#MossByte"}, twin={"streamer": "@mossbyte"})
    assert login_of(same.twitch.channel) == login_of(same.twin.streamer) == "mossbyte"


def test_live_settings_all_set_are_one_ok_line(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        twitch={"channel": "mossbyte"},
        twin={"streamer": "mossbyte"},
        web={"token": "w" * 24},
        journal={"token": "j" * 24},
    )
    live = check_live(settings)
    assert [(c.name, c.status) for c in live] == [("live settings", "ok")]
    assert "w" * 24 not in live[0].line()  # never a secret


def test_an_embedded_twin_with_nothing_to_learn_from_is_a_warning(tmp_path: Path) -> None:
    check = check_twin(load_settings(data_dir=tmp_path / "data"))
    assert check.status == "warn"
    assert "trained on 0 line(s)" in check.detail
    assert "COHOST_TWIN__WRITINGS" in check.fix


def test_an_embedded_twin_counts_the_streamers_lines(tmp_path: Path) -> None:
    chatlog = tmp_path / "stream.irc"
    lines = [irc("mossbyte", f"the starter rose {n} centimetres today", n) for n in range(30)]
    lines.append(irc("viewer", "not the streamer", 40))
    chatlog.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(
        data_dir=tmp_path / "data", twin={"streamer": "mossbyte", "chat_logs": [str(chatlog)]}
    )
    check = check_twin(settings)
    assert check.status == "ok", check.line()
    assert "30 line(s) (30 of the streamer's chat, 0 from writings)" in check.detail
    notes = tmp_path / "notes.md"
    notes.write_text("I bake bread on Sundays.\n", encoding="utf-8")
    few = check_twin(load_settings(data_dir=tmp_path / "d2", twin={"writings": [str(notes)]}))
    assert few.status == "warn"
    assert "(0 of the streamer's chat, 1 from writings): most turns will be silent" in few.detail
    served = load_settings(data_dir=tmp_path / "d3", simulator={"url": "http://127.0.0.1:1/v1"})
    assert check_twin(served).status == "ok"
