"""`cohost chat`: talking and teaching at the terminal, scripted through standard input."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from cohost.cli.main import main
from cohost.dataset.build import read_meta
from cohost.dataset.desk import read_desk_pairs


@pytest.fixture
def desk_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No twin configured (the demo twin and its journal), data under tmp_path."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    monkeypatch.setenv("COHOST_DATA_DIR", str(data))
    monkeypatch.setenv("COHOST_SPEECH__ENGINE", "captions")  # the terminal desk is text only
    # the lexical embedder: recall without loading a model; a low floor so its scores count
    monkeypatch.setenv("COHOST_JOURNAL__EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("COHOST_JOURNAL__RECALL_MIN_SCORE", "0.05")
    return data


def _chat(
    args: list[str], lines: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    rc = main(["chat", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_talking_streams_replies_and_shows_recall_without_private_titles(
    desk_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        "mossbot, how is the keyboard build going?\n"
        "/as tinkerfox\n"
        "mossbot are you tired after long streams?\n"
        "/me\n"
        "/nonsense\n"
    )
    rc, out, err = _chat([], script, monkeypatch, capsys)
    assert rc == 0, err
    assert "demo twin mossbot" in err
    assert "nothing goes to Twitch" in out
    replies = re.findall(r"^mossbot: (.+)$", out, flags=re.MULTILINE)
    assert len(replies) == 2 and all(r.strip() for r in replies)
    assert "· speaking as tinkerfox" in out
    assert "· not a desk command: /nonsense" in out
    assert "simulated: " in out
    recalled = [line for line in out.splitlines() if "recalled:" in line]
    assert any("Keyboard build (public)" in line for line in recalled)
    assert any("(private entry) (private)" in line for line in recalled)
    # a private entry's title and text never come out, nor does a secret one at all
    for kept in ("Feeling tired after long streams", "Six hour streams", "Flat hunting"):
        assert kept not in out
    # talking stores nothing to train on
    assert not (desk_env / "desk" / "pairs.jsonl").exists()


def test_teaching_on_typed_lines_picks_writes_and_undoes(
    desk_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        "what game is next?\n"
        "1\n"
        "how is gerald?\n"
        "w gerald doubled this morning, best rise all month\n"
        "any plans for the weekend?\n"
        "b\n"
        "u\n"
        "q\n"
    )
    rc, out, err = _chat(["--teach", "--candidates", "3"], script, monkeypatch, capsys)
    assert rc == 0, err
    # each prompt's candidates, numbered; the embedded twin may find fewer than asked. Each
    # lesson ends on its choice's line ("· ..."); a typed prompt joins the conversation shown
    blocks = re.split(r"^· .*$", out, flags=re.MULTILINE)[:3]
    shown = [len(re.findall(r"^  \d\) .+  \[twin\]$", b, flags=re.MULTILINE)) for b in blocks]
    assert len(shown) == 3 and all(2 <= n <= 3 for n in shown), out
    picked, written = shown[0] - 1, shown[0] - 1 + shown[1]
    assert f"· picked 1; {picked} pair(s), 0 example(s) from 1 choice(s)" in out
    assert f"· written; {written} pair(s), 1 example(s) from 2 choice(s)" in out
    assert (
        f"· all bad; {written} pair(s), 1 example(s) from 3 choice(s) (1 picked, 1 all bad" in out
    )
    assert f"undid the last choice (bad); {written} pair(s), 1 example(s) from 2 choice(s)" in out
    desk = desk_env / "desk"
    pairs, unreadable = read_desk_pairs(desk / "pairs.jsonl")
    assert unreadable == 0 and len(pairs) == written
    assert all(p["prompt"].endswith("mossbot:") for p in pairs)
    answered = [
        p for p in pairs if p["chosen"] == " gerald doubled this morning, best rise all month\n"
    ]
    assert len(answered) == shown[1] and all(
        "mossbyte: how is gerald?\nmossbot:" in p["prompt"] for p in answered
    )
    examples = [json.loads(line) for line in (desk / "examples.jsonl").read_text().splitlines()]
    assert [e["text"].splitlines()[-1] for e in examples] == [
        "mossbot: gerald doubled this morning, best rise all month"
    ]


def test_teaching_on_a_chat_log_and_the_dataset_commands_read_the_desk(
    desk_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cohost.app.demo import demo_files  # noqa: PLC0415

    log = demo_files() / "chat.txt"
    script = "2\nn\nw yes I am awake, barely\nu\nw awake and caffeinated\nq\n"
    rc, out, err = _chat(["--log", str(log)], script, monkeypatch, capsys)
    assert rc == 0, err
    # the viewers' lines of the log, never the streamer's or the bot's
    assert "  leafwhistle: hiii moss" in out
    assert "nightbot" not in out.lower()  # a bot is never chat to teach on
    assert "undid the last choice (written)" in out
    desk = desk_env / "desk"
    pairs, _ = read_desk_pairs(desk / "pairs.jsonl")
    assert pairs and all(p["prompt"].startswith("Twitch chat. mossbot") for p in pairs)

    # `dataset dpo` takes the desk's pairs by default, and leaves them out when told
    monkeypatch.setenv("COHOST_TWIN__NAME", "mossbot")
    monkeypatch.setenv("COHOST_TWIN__STREAMER", "mossbyte")
    out_file = tmp_path / "dpo.jsonl"
    assert main(["dataset", "dpo", "--out", str(out_file)]) == 0
    written = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert written == pairs and all(set(p) == {"prompt", "chosen", "rejected"} for p in written)
    assert "pair(s) chosen at the twin's desk" in capsys.readouterr().out
    meta = read_meta(out_file)
    assert meta is not None and meta.twin == "mossbot"
    assert main(["dataset", "dpo", "--no-desk", "--out", str(out_file)]) == 1
    assert "no feedback file here yet" in capsys.readouterr().err
    # the desk's pairs were rendered for mossbot: another twin name is refused, by file
    assert main(["dataset", "dpo", "--twin", "other", "--out", str(out_file)]) == 1
    assert "rendered for the twin 'mossbot', not 'other'" in capsys.readouterr().err
    # ... and so is another chat format: the desk's pairs would not match the rest
    other_format = tmp_path / "chat.toml"
    other_format.write_text('header = "Chat with {twin}.\\n\\n"\nline = "{speaker}: {text}"\n')
    argv = ["dataset", "dpo", "--chat-format", str(other_format), "--out", str(out_file)]
    assert main(argv) == 1
    assert "another chat format" in capsys.readouterr().err

    # `dataset build --desk` adds the written answers as examples
    build = tmp_path / "train.jsonl"
    assert main(["dataset", "build", "--desk", "--out", str(build), "--no-progress"]) == 0
    texts = [json.loads(line)["text"] for line in build.read_text().splitlines()]
    assert [t.splitlines()[-1] for t in texts] == ["mossbot: awake and caffeinated"]
    assert "1 answer(s) written at the twin's desk added" in capsys.readouterr().out


def test_bad_input_is_a_clear_error(
    desk_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, _, err = _chat(["--log", str(tmp_path / "nope.txt")], "", monkeypatch, capsys)
    assert rc == 1 and f"{tmp_path / 'nope.txt'}: no such file" in err
    rc, out, err = _chat([], "   \n" + "x" * 600 + "\n", monkeypatch, capsys)
    assert rc == 0 and "at most 500 characters" in out
    rc, _, err = _chat(["--web"], "", monkeypatch, capsys)
    assert rc == 2 and "COHOST_WEB__TOKEN" in err


def test_teaching_on_a_seed_files_openings(
    desk_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = tmp_path / "seed.jsonl"
    conversations = [
        {"messages": [{"role": "user", "content": "what is the best bread to start with?"}]},
        {"conversations": [{"from": "human", "value": "do you like frogs?"}]},
    ]
    seed.write_text("".join(json.dumps(c) + "\n" for c in conversations))
    rc, out, err = _chat(["--seed", str(seed)], "1\nw I love frogs\n", monkeypatch, capsys)
    assert rc == 0, err
    assert "  viewer: what is the best bread to start with?" in out
    assert "  viewer: do you like frogs?" in out
    assert "· no more prompts" in out
    pairs, _ = read_desk_pairs(desk_env / "desk" / "pairs.jsonl")
    frogs = [p for p in pairs if p["chosen"] == " I love frogs\n"]
    assert frogs and all(
        p["prompt"].endswith("viewer: do you like frogs?\nmossbot:") for p in frogs
    )
    choices = [
        json.loads(line) for line in (desk_env / "desk" / "choices.jsonl").read_text().splitlines()
    ]
    assert [(c["source"], c["kind"]) for c in choices] == [("seed", "picked"), ("seed", "written")]
