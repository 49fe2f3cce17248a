"""`--columns` and `replay.csv_columns`: a CSV with unknown headers read by every log command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohost.cli.main import main

# A research export's header: none of its names is a known one for the user.
ODD = "when,who_said_it,said\n300,carol,third\n100,alice,first\n200,bob,second\n"
COLUMNS = "time=when,user=who_said_it,text=said"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHOST_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def odd_csv(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(ODD, encoding="utf-8")
    return path


def test_inspect_without_columns_says_how_to_name_them(
    odd_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chatlog", "inspect", str(odd_csv)]) == 1
    assert "--columns time=COL,user=COL,text=COL" in capsys.readouterr().err


def test_inspect_with_columns(odd_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chatlog", "inspect", str(odd_csv), "--columns", COLUMNS, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["format"], summary["messages"], summary["users"]) == ("csv", 3, 3)


def test_the_setting_is_used_when_no_flag_is_given(
    odd_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "COHOST_REPLAY__CSV_COLUMNS",
        json.dumps({"time": "when", "user": "who_said_it", "text": "said"}),
    )
    assert main(["chatlog", "inspect", str(odd_csv), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["messages"] == 3


def test_a_bad_setting_is_a_settings_error(
    odd_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHOST_REPLAY__CSV_COLUMNS", json.dumps({"time": "when", "who": "x"}))
    assert main(["chatlog", "inspect", str(odd_csv)]) == 2
    assert "replay.csv_columns: unknown column role 'who'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("time=when,user=who_said_it", "needs text"),
        ("time=when,user=a,text=b,colour=c", "unknown column role 'colour'"),
        ("time", "not ROLE=COLUMN"),
        ("time=a,ts=b,user=c,text=d", "given twice"),
    ],
)
def test_bad_columns_are_usage_errors(
    odd_csv: Path, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["chatlog", "inspect", str(odd_csv), "--columns", value])
    assert caught.value.code == 2
    assert says in capsys.readouterr().err


def test_replay_with_columns_reads_in_time_order(odd_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["replay", str(odd_csv), "--out", str(out), "--columns", COLUMNS]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["messages_seen"] == 3
    assert "stale" not in report["skipped_by_category"]
    examples = report["skip_examples"]["low_score"]
    assert [line.split(":")[0] for line in examples] == ["alice", "bob", "carol"]


def test_dataset_build_with_columns(odd_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    code = main(["dataset", "build", str(odd_csv), "--twin", "bob", "--out", str(out)])
    assert code == 1  # the header is unknown
    code = main(
        ["dataset", "build", str(odd_csv), "--twin", "bob", "--out", str(out), "--columns", COLUMNS]
    )
    assert code == 0
    lines = [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1 and "second" in lines[0]
