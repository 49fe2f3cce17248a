"""`cohost dataset …` end to end through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from cohost.adapters.twitch_tokens import StoredToken, TokenStore
from cohost.app.settings import load_settings
from cohost.cli.dataset import twin_bot_login
from cohost.cli.main import main


def test_build_writes_examples_and_a_report(
    rule_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "train.jsonl"
    rc = main(
        [
            "dataset",
            "build",
            str(rule_log),
            "--twin",
            "moss",
            "--name",
            "Moss",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    assert all(set(r) == {"text"} and r["text"].splitlines()[-1].startswith("Moss: ") for r in rows)
    report = json.loads((tmp_path / "out" / "train.jsonl.report.json").read_text())
    assert report["rules"]["moderated"] == {"removed": 3, "changed": 0}
    assert report["rules"]["personal"] == {"removed": 0, "changed": 2}
    printed = capsys.readouterr().out
    assert "moderated" in printed and "2 example(s)" in printed


def test_build_records_the_name_the_twin_is_rendered_as(
    rule_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "train.jsonl"
    argv = ["dataset", "build", str(rule_log), "--twin", "moss", "--name", "Moss Bot"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((tmp_path / "train.jsonl.meta.json").read_text())
    # as the renderer writes it: one word, the spelling the model learns to speak as
    assert meta == {
        "twin": "MossBot",
        "header": "Twitch chat. MossBot is the streamer's co-host.\n\n",
    }
    rows = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert rows and all(r.startswith(meta["header"]) for r in rows)
    assert all(r.splitlines()[-1].startswith("MossBot: ") for r in rows)
    assert (
        "serve the LoRA trained on them with COHOST_TWIN__NAME=MossBot" in capsys.readouterr().out
    )


def test_a_twin_login_that_never_speaks_is_an_error_naming_likely_ones(
    rule_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "t.jsonl")
    argv = ["dataset", "build", str(rule_log), "--twin", "mosss", "--out", out, "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("cohost: mosss never speaks in these logs; logins like it: moss")
    assert "--twin names the streamer's login" in err


def test_seed_says_why_it_made_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convs = tmp_path / "convs.jsonl"
    convs.write_text('{"text": "not a conversation"}\n[1, 2]\n')
    out = str(tmp_path / "seed.jsonl")
    assert main(["dataset", "seed", str(convs), "--out", out]) == 1
    err = capsys.readouterr().err
    assert f"2 x {convs}:1: no user turn (expected" in err
    convs.write_text('{"prompt": "what are we playing?"}\n')
    settings_free = ["dataset", "seed", str(convs), "--out", out, "--continue"]
    assert main(settings_free) == 1
    assert "--continue needs a twin that can talk" in capsys.readouterr().err


def test_build_rules_can_be_chosen(rule_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    rc = main(
        [
            "dataset",
            "build",
            str(rule_log),
            "--twin",
            "moss",
            "--out",
            str(out),
            "--rules",
            "bots,short,context",
            "--no-context",
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "t.jsonl.report.json").read_text())
    assert report["rules_on"] == ["bots", "short"]
    assert report["rules"]["bots"]["removed"] == 1
    assert report["rules"]["context"]["removed"] == 0
    assert report["rules"]["moderated"]["removed"] == 0


def test_bad_input_is_a_clear_error(
    rule_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], shared_data: Path
) -> None:
    out = str(tmp_path / "x.jsonl")
    assert (
        main(
            ["dataset", "build", str(rule_log), "--twin", "moss", "--out", out, "--rules", "bogus"]
        )
        != 0
    )
    assert "unknown rule(s) ['bogus']" in capsys.readouterr().err
    corpus = str(shared_data / "cornell")
    assert (
        main(
            [
                "dataset",
                "cornell",
                "--corpus",
                corpus,
                "--film",
                "hackers",
                "--character",
                "dade",
                "--out",
                out,
            ]
        )
        != 0
    )
    assert "its lines are not in" in capsys.readouterr().err


def test_cornell_dpo_and_seed_commands(tmp_path: Path, shared_data: Path) -> None:
    corpus = str(shared_data / "cornell")
    out = tmp_path / "c.jsonl"
    assert (
        main(
            [
                "dataset",
                "cornell",
                "--corpus",
                corpus,
                "--film",
                "10 things i hate about you",
                "--character",
                "Bianca",
                "--twin",
                "Moss",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert all(json.loads(r)["text"].endswith("\n") for r in out.read_text().splitlines())
    assert json.loads((tmp_path / "c.jsonl.meta.json").read_text())["twin"] == "Moss"

    feedback = tmp_path / "feedback.jsonl"
    record = {
        "verdict": "good",
        "reply": "yes",
        "message": {"login": "a", "text": "q?"},
        "window": [],
        "alternatives": ["no"],
    }
    feedback.write_text(json.dumps(record) + "\n")
    pairs = tmp_path / "dpo.jsonl"
    assert (
        main(["dataset", "dpo", "--feedback", str(feedback), "--twin", "Moss", "--out", str(pairs)])
        == 0
    )
    assert json.loads(pairs.read_text()) == {
        "prompt": "Twitch chat. Moss is the streamer's co-host.\n\na: q?\nMoss:",
        "chosen": " yes\n",
        "rejected": " no\n",
    }
    assert json.loads((tmp_path / "dpo.jsonl.meta.json").read_text())["twin"] == "Moss"

    convs = tmp_path / "convs.jsonl"
    convs.write_text(
        json.dumps({"messages": [{"role": "user", "content": "do you paint your kits"}]}) + "\n"
    )
    writing = tmp_path / "me.md"
    writing.write_text("I paint my kits with an airbrush.\n\nThe kits take weeks to paint.\n")
    seeds = tmp_path / "seed.jsonl"
    assert (
        main(
            [
                "dataset",
                "seed",
                str(convs),
                "--twin",
                "Moss",
                "--out",
                str(seeds),
                "--continue",
                "--writings",
                str(writing),
            ]
        )
        == 0
    )
    row = json.loads(seeds.read_text())
    assert row["prompt"].endswith("viewer: do you paint your kits\nMoss:")
    assert row["completion"].startswith(" ")
    assert "kits" in row["completion"]


def test_dpo_prompts_are_rendered_as_the_twin_model_saw_them_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # live, the twin speaks from its bot account and the streamer is a chatter like any other
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHOST_TWIN__STREAMER", "moss")
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    # the bot's account as `cohost auth` stored it: offline nothing else names it
    TokenStore.in_data_dir(tmp_path / "data").save(
        StoredToken(
            account="bot",
            login="MossTwin",
            user_id="1",
            access_token=SecretStr("a"),
            refresh_token=SecretStr("r"),
            scopes=(),
            expires_at=0.0,
        )
    )
    feedback = tmp_path / "feedback.jsonl"
    record = {
        "verdict": "good",
        "reply": "it is thriving",
        "message": {"login": "ana", "text": "how is gerald?"},
        "window": [
            {"login": "moss", "text": "ok chat, back to the run"},
            {"login": "mosstwin", "text": "the run awaits"},
            {"login": "ana", "text": "how is gerald?"},
        ],
        "alternatives": ["no idea"],
    }
    feedback.write_text(json.dumps(record) + "\n")
    pairs = tmp_path / "dpo.jsonl"
    args = ["dataset", "dpo", "--feedback", str(feedback), "--twin", "Twin", "--out", str(pairs)]
    assert main(args) == 0
    prompt = json.loads(pairs.read_text())["prompt"]
    assert prompt.endswith(
        "moss: ok chat, back to the run\nTwin: the run awaits\nana: how is gerald?\nTwin:"
    )


def test_a_bot_on_the_streamers_own_account_is_not_the_twin_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as live: those lines are the streamer's, who must not render as the twin
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COHOST_TWIN__STREAMER", "moss")
    monkeypatch.setenv("COHOST_TWITCH__BOT_LOGIN", "@Moss")
    assert twin_bot_login(load_settings()) == ""
    monkeypatch.setenv("COHOST_TWITCH__BOT_LOGIN", "mosstwin")
    assert twin_bot_login(load_settings()) == "mosstwin"


def test_journal_entries_given_as_writings_never_train_a_secret(tmp_path: Path) -> None:
    secret = tmp_path / "keys.tid"
    secret.write_text(
        "title: keys\ntags: secret\n\nThe alarm PIN is 4471. The key is under the blue pot.\n"
    )
    public = tmp_path / "bread.tid"
    public.write_text(
        "title: bread\ntags: public\n\n"
        "Gerald doubled overnight. He smells like a bakery. I fed him rye. He loves rye.\n"
    )
    out = tmp_path / "train.jsonl"
    argv = ["dataset", "build", "--writings", str(secret), "--writings", str(public)]
    argv += ["--twin", "moss", "--name", "Moss"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    text = out.read_text()
    assert "Gerald" in text
    assert "4471" not in text and "blue pot" not in text
