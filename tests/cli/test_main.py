"""The command line: replay, chatlog inspect, demo, settings errors."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cohost.app.demo import demo_files, models_banner
from cohost.app.settings import Settings, env_example, load_settings
from cohost.cli.main import CHATTY_LIBRARIES, add_command_groups, main
from cohost.core.errors import SettingsError
from cohost.embedded.markov import writing_lines

REPO = Path(__file__).resolve().parents[2]

# Every chat log in ../shared/data/twitch with the number of chat messages it holds.
SHARED_LOGS = {
    "chatterino_log/nymn-2024-01-06.log": 798,
    "irc_raw/nymn_recentmessages.irc": 798,
    "irc_raw/recentmessages-nymn.json": 798,
    "irc_raw/chatterino_test_snapshot_inputs.irc": 70,
    "rechat_json/rechat-158202424.json": 1970,
    "tcd_text/AdumPlaze_0774609027.txt": 6304,
    "tcd_text/DKDiamantes_0650637968.txt": 3036,
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("name", sorted(SHARED_LOGS))
def test_inspect_reads_every_shared_log_without_skipping(
    name: str, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chatlog", "inspect", str(shared_data / "twitch" / name), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["messages"] == SHARED_LOGS[name]
    assert summary["skipped"] == 0


@pytest.mark.parametrize("name", sorted(SHARED_LOGS))
def test_replay_writes_traces_and_reports(name: str, shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["replay", str(shared_data / "twitch" / name), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    # every chat message was seen once; user notices with the viewer's words join chat too
    assert report["messages_seen"] >= SHARED_LOGS[name]
    assert report["unreadable_lines"] == 0
    assert len(traces) == report["picked"]
    assert sum(report["skipped_by_category"].values()) + report["picked"] == report["messages_seen"]
    for trace in traces:
        assert trace["decision"]["picked"] is True
        assert trace["decision"]["parts"]  # why it was picked
        assert trace["outcome"] in {"answered", "silent", "blocked", "failed"}
    assert md.startswith("# Replay of")
    assert "## Stage times (ms)" in md


def test_replay_answers_somebody_in_a_real_log(shared_data: Path, tmp_path: Path) -> None:
    log = shared_data / "twitch" / "tcd_text" / "DKDiamantes_0650637968.txt"
    assert main(["replay", str(log), "--out", str(tmp_path / "o"), "--twin", "dkdiamantes"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["twin"] == "dkdiamantes"
    assert report["answered"] > 0
    assert report["replies"][0]["reply"]
    assert set(report["stage_times"]) >= {"simulate", "fuse", "guard"}


def test_strict_replay_of_a_malformed_log_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "broken.txt"
    log.write_text("[0:00:01] <alice> hello\n[0:00:02] <bob> hi\n[0:0x:03] garbage here\n")
    assert main(["replay", str(log), "--out", str(tmp_path / "o"), "--strict"]) == 1
    assert f"{log}:3:" in capsys.readouterr().err
    # without --strict the bad line is skipped, counted and reported
    assert main(["replay", str(log), "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["unreadable_lines"] == 1
    assert report["unreadable_reasons"][0].startswith(f"{log}:3:")
    assert f"  - {log}:3:" in (tmp_path / "o" / "report.md").read_text()


def test_invalid_setting_names_the_field_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHOST_PICKER__MIN_GAP_S", "soon")
    assert main(["chatlog", "inspect", "nothing.log"]) == 2
    err = capsys.readouterr().err
    assert "COHOST_PICKER__MIN_GAP_S" in err
    assert "'soon'" in err


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("COHOST_PICKER__TRESHOLD", "did you mean COHOST_PICKER__THRESHOLD?"),
        ("COHOST_SPEECH_ENGINE", "did you mean COHOST_SPEECH__ENGINE?"),
        ("cohost_nothing_like_it", ".env.example lists every setting"),
    ],
)
def test_a_misspelled_setting_is_an_error_not_a_silent_default(
    monkeypatch: pytest.MonkeyPatch, name: str, says: str
) -> None:
    monkeypatch.setenv(name, "5")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert f"unknown setting {name} (the environment); {says}" in str(caught.value)


def test_settings_taking_any_key_and_the_config_file_variable_are_known(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COHOST_CONTROL__PERMISSIONS__SAY", "vip")
    config = tmp_path / "cohost.toml"
    config.write_text("[control.permissions]\nnote = 'moderator'\n")
    monkeypatch.setenv("COHOST_CONFIG_FILE", str(config))
    settings = load_settings()
    assert settings.control.permissions["say"] == "vip"
    assert settings.control.permissions["note"] == "moderator"


def test_a_config_file_names_its_own_mistakes(tmp_path: Path) -> None:
    config = tmp_path / "cohost.toml"
    config.write_text("[picker]\ntreshold = 5\n")
    with pytest.raises(
        SettingsError,
        match=r"cohost\.toml: unknown setting \[picker\] treshold; did you mean threshold\?",
    ):
        load_settings(config)
    config.write_text('[picker]\nthreshold = "x"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert f"invalid setting [picker] threshold in {config} (value 'x')" in str(caught.value)


def test_a_list_not_written_as_json_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHOST_TWIN__ALIASES", "moss, mossy")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "(COHOST_TWIN__ALIASES)" in str(caught.value)
    assert "lists and tables are JSON" in str(caught.value)


def test_secret_values_are_masked_in_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(journal={"token": 123456789})
    text = str(caught.value)
    assert "COHOST_JOURNAL__TOKEN" in text
    assert "123456789" not in text
    assert "**********" in text


def test_toml_file_is_read(tmp_path: Path) -> None:
    config = tmp_path / "cohost.toml"
    config.write_text('[twin]\nname = "mossbot"\naliases = ["moss"]\n')
    settings = load_settings(config)
    assert settings.twin.name == "mossbot"
    assert settings.twin.aliases == ["moss"]


def test_missing_toml_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"--config .*nope\.toml: no such file"):
        load_settings(tmp_path / "nope.toml")


def _one_line_log(tmp_path: Path) -> Path:
    log = tmp_path / "chat.log"
    log.write_text("[2024-01-06 12:00:00] ana: hello\n")
    return log


def test_an_output_path_that_cannot_be_used_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    log = _one_line_log(tmp_path)
    assert main(["replay", str(log), "--out", str(taken)]) == 1
    err = capsys.readouterr().err
    assert err == f"cohost: {taken}: File exists\n"


def test_replay_refuses_a_journal_folder_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _one_line_log(tmp_path)
    missing = tmp_path / "nojournal"
    assert main(["replay", str(log), "--out", str(tmp_path / "o"), "--journal", str(missing)]) == 1
    assert (
        capsys.readouterr().err == f"cohost: {missing}: --journal: no such folder of .tid files\n"
    )
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        main(["replay", str(log), "--out", str(tmp_path / "o"), "--speed", "-1"])
    assert "must be 0 or more" in capsys.readouterr().err


def test_env_example_lists_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    assert text == env_example(), "regenerate: python -m cohost.app.settings > .env.example"
    assert "COHOST_PICKER__MIN_GAP_S=8.0" in text
    for name in Settings.model_fields:
        assert f"COHOST_{name.upper()}" in text


def test_demo_runs_and_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--speed", "0", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "twin: a Markov chain (embedded)" in out
    assert "rewriter: extractive (embedded)" in out
    assert "(no GPU, no network)" in out
    assert "[mossbot]" in out
    assert "picked" in out
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["answered"] >= 3
    assert (tmp_path / "demo" / "traces.jsonl").stat().st_size > 0


def test_the_demo_names_the_model_servers_it_would_use() -> None:
    settings = load_settings(
        simulator={"url": "http://127.0.0.1:8000/v1", "model": "twin-lora"},
        rewriter={"url": "https://me:hunter2@api.example/v1?key=k3y", "model": "smol"},
    )
    banner = models_banner(settings)
    assert "twin: model 'twin-lora' at http://127.0.0.1:8000/v1 (vllm)" in banner
    assert "rewriter: model 'smol' at https://api.example/v1" in banner
    assert "model servers" in banner
    for wrong in ("Markov", "extractive", "no network", "hunter2", "k3y"):
        assert wrong not in banner
    only_twin = models_banner(load_settings(simulator={"url": "http://127.0.0.1:8000/v1"}))
    assert "rewriter: extractive (embedded)" in only_twin
    assert "no network" not in only_twin


def test_the_demo_twin_never_learned_the_chat_it_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a fixed seed: this replay's draws are the same in every run
    monkeypatch.setenv("COHOST_SIMULATOR__SEED", "7")
    assert main(["demo", "--speed", "0", "--out", str(tmp_path / "demo")]) == 0
    traces = [
        json.loads(line) for line in (tmp_path / "demo" / "traces.jsonl").read_text().splitlines()
    ]
    said = [line["text"] for t in traces for line in t["sim_lines"] if line["is_twin"]]
    assert said
    # an order-2 chain says only word triples it learned: all of them are from the writing
    writing = writing_lines((demo_files() / "writing.md").read_text(), markdown=True)
    learned = {tuple(ws[i : i + 3]) for ws in map(str.split, writing) for i in range(len(ws))}
    vocabulary = {w for line in writing for w in line.split()}
    for text in said:
        ws = text.split()
        assert set(ws) <= vocabulary, text
        assert all(tuple(ws[i : i + 3]) in learned for i in range(len(ws) - 2)), text


def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cohost.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    for command in ("replay", "demo", "chatlog"):
        assert command in done.stdout


def test_run_exit_statuses_tell_systemd_what_a_restart_cannot_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COHOST_SPEECH__ENGINE", "captions")
    monkeypatch.setenv("COHOST_WEB__ENABLED", "false")
    monkeypatch.setenv("COHOST_TWITCH__CHANNEL", "mossbyte")
    assert main(["run"]) == 2  # a setting: the unit's RestartPreventExitStatus
    assert "COHOST_TWITCH__CLIENT_ID is not set" in capsys.readouterr().err
    monkeypatch.setenv("COHOST_TWITCH__CLIENT_ID", "abc")
    assert main(["run"]) == 3  # no token: only `cohost auth` fixes it
    assert "cohost auth" in capsys.readouterr().err


def test_a_config_file_named_in_the_environment_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHOST_CONFIG_FILE", str(tmp_path / "typo.toml"))
    with pytest.raises(SettingsError, match=r"COHOST_CONFIG_FILE .*typo\.toml: no such file"):
        load_settings()
    config = tmp_path / "cohost.toml"
    config.write_text('[twin]\nname = "mossbot"\n')
    monkeypatch.setenv("COHOST_CONFIG_FILE", str(config))
    assert load_settings().twin.name == "mossbot"


def test_loading_a_config_file_leaves_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COHOST_CONFIG_FILE", raising=False)
    config = tmp_path / "cohost.toml"
    config.write_text('[twin]\nname = "mossbot"\n')
    assert load_settings(config).twin.name == "mossbot"
    assert "COHOST_CONFIG_FILE" not in os.environ
    assert load_settings().twin.name != "mossbot"  # the next load reads no file it was not given


@pytest.fixture
def library_log_levels() -> Iterator[None]:
    """The chatty libraries' log levels as they were, after the test."""
    levels = {name: logging.getLogger(name).level for name in CHATTY_LIBRARIES}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("library_log_levels")
def test_chatty_libraries_log_warnings_only_unless_verbose(tmp_path: Path) -> None:
    log = _one_line_log(tmp_path)
    assert main(["chatlog", "inspect", str(log)]) == 0
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("sentence_transformers").level == logging.WARNING
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    assert main(["--verbose", "chatlog", "inspect", str(log)]) == 0
    assert logging.getLogger("httpx").level == logging.NOTSET


def test_inspect_with_the_wrong_format_fails_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _one_line_log(tmp_path)  # a Chatterino line
    assert main(["chatlog", "inspect", str(log), "--format", "tcd"]) == 1
    captured = capsys.readouterr()
    assert "1 message from 1 user" not in captured.out
    assert captured.err == (
        f"cohost: {log}: no line could be read as tcd; leave out --format to detect it\n"
    )
    assert main(["chatlog", "inspect", str(log)]) == 0
    assert "1 message from 1 user" in capsys.readouterr().out


def test_an_empty_path_setting_means_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHOST_SPEECH__WAV_DIR", "")
    monkeypatch.setenv("COHOST_SPEECH__PIPER_VOICE", " ")
    speech = load_settings().speech
    assert speech.wav_dir is None and speech.piper_voice is None  # not Path(".")


def test_only_a_missing_extra_leaves_a_command_group_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    groups = {
        "needs_the_train_extra": 'raise ModuleNotFoundError("no torch", name="torch")',
        "needs_a_web_submodule": "import starlette.no_such_part_of_it",
        "has_a_bug": "import no_such_module_anywhere",
        "a_group_that_works": "def register(commands):\n    commands.add_parser('works')",
    }
    for name, body in groups.items():
        (tmp_path / f"{name}.py").write_text(body + "\n")
    commands = argparse.ArgumentParser().add_subparsers()
    add_command_groups(
        commands,
        ["needs_the_train_extra", "needs_a_web_submodule", "not_there", "a_group_that_works"],
    )
    assert list(commands.choices) == ["works"]
    with pytest.raises(ModuleNotFoundError, match="no_such_module_anywhere"):
        add_command_groups(argparse.ArgumentParser().add_subparsers(), ["has_a_bug"])
