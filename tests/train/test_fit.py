"""Examples made to fit --max-len from their start, and the twin's name from data to adapter.

Pure functions over a token-counting callable: no torch needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohost.cli.main import main
from cohost.core.errors import InputError
from cohost.dataset.build import DatasetMeta, meta_path, write_meta
from cohost.train.dpo import fit_prompts
from cohost.train.lora import (
    TWIN_FILE,
    TrainResult,
    data_twin,
    describe,
    fit_examples,
    fit_from_start,
    read_adapter_twin,
    read_records,
    split_header,
    write_adapter_twin,
)

HEADER = "Twitch chat. moss is the streamer's co-host.\n\n"
LINES = [
    "ana: hello everyone in here\n",
    "bo: what game is this one\n",
    "cyra: nice jump\n",
    "moss: the frog knight one again, pure luck honestly\n",
]
EXAMPLE = HEADER + "".join(LINES)


def words(text: str) -> int:
    """A stand-in tokenizer: one token a word."""
    return len(text.split())


def test_an_example_that_fits_is_left_alone() -> None:
    fitted = fit_from_start(EXAMPLE, words(EXAMPLE), words)
    assert fitted.text == EXAMPLE
    assert not fitted.shortened


def test_the_oldest_chat_lines_go_first_and_the_header_and_twin_line_stay() -> None:
    limit = words(HEADER + "".join(LINES[2:]))
    fitted = fit_from_start(EXAMPLE, limit, words)
    assert fitted.text == HEADER + "".join(LINES[2:])
    assert (fitted.dropped_lines, fitted.cut) == (2, False)
    # one token fewer: the next line goes too, whole
    fitted = fit_from_start(EXAMPLE, limit - 1, words)
    assert fitted.text == HEADER + LINES[-1]
    assert (fitted.dropped_lines, fitted.cut) == (3, False)


def test_a_twin_line_too_long_by_itself_keeps_its_last_tokens() -> None:
    limit = words(HEADER) + 4
    fitted = fit_from_start(EXAMPLE, limit, words)
    assert fitted.text == HEADER + "again, pure luck honestly\n"
    assert words(fitted.text) == limit
    assert (fitted.dropped_lines, fitted.cut) == (3, True)


def test_when_the_header_alone_fills_the_budget_the_twin_words_win() -> None:
    fitted = fit_from_start(EXAMPLE, 3, words)
    assert fitted.text == "pure luck honestly\n"
    assert fitted.cut


def test_a_cut_by_characters_starts_at_a_word_boundary() -> None:
    # a character-counting "tokenizer": the cut may land mid-word; it moves to the next word
    limit = len(HEADER) + len("re luck honestly\n")
    fitted = fit_from_start(EXAMPLE, limit, len)
    assert fitted.text == HEADER + "luck honestly\n"
    # a cut that lands on a word's start keeps that word
    assert fit_from_start(EXAMPLE, limit + 3, len).text == HEADER + "pure luck honestly\n"
    assert len(fitted.text) <= limit


def test_without_cut_last_the_open_turn_is_kept_whole() -> None:
    prompt = HEADER + "".join(LINES[:3]) + "moss:"
    fitted = fit_from_start(prompt, 2, words, cut_last=False)
    assert fitted.text == HEADER + "moss:"
    assert (fitted.dropped_lines, fitted.cut) == (3, False)


def test_the_header_is_the_given_one_else_up_to_the_blank_line() -> None:
    assert split_header(EXAMPLE) == (HEADER, LINES)
    custom = "Chat log\n" + "".join(LINES)
    assert split_header(custom, "Chat log\n") == ("Chat log\n", LINES)
    assert split_header("".join(LINES)) == ("", LINES)


def test_fitting_records_counts_the_shortened_and_the_cut() -> None:
    records = [{"text": EXAMPLE}, {"text": HEADER + LINES[-1]}, {"text": HEADER + LINES[0]}]
    limit = words(HEADER + LINES[-1])
    fitted, shortened, cut = fit_examples(records, limit, words, header=HEADER)
    assert [r["text"] for r in fitted] == [
        HEADER + LINES[-1],
        HEADER + LINES[-1],
        records[2]["text"],
    ]
    assert (shortened, cut) == (1, 0)


def test_dpo_prompts_lose_old_lines_so_prompt_and_both_replies_fit() -> None:
    prompt = HEADER + "".join(LINES[:3]) + "moss:"
    pair = {"prompt": prompt, "chosen": " a roguelike\n", "rejected": " I cannot say that, chat\n"}
    limit = words(HEADER + LINES[2] + "moss:" + pair["rejected"])
    fitted, shortened = fit_prompts([pair], limit, words, header=HEADER)
    assert fitted == [{**pair, "prompt": HEADER + LINES[2] + "moss:"}]
    assert shortened == 1


def test_describe_says_how_many_were_shortened_and_the_name_to_serve() -> None:
    result = TrainResult(
        adapter=Path("a"),
        examples=10,
        steps=3,
        loss=1.0,
        twin="moss",
        max_len=64,
        shortened=4,
        cut=1,
    )
    printed = "\n".join(describe(result))
    assert "4 example(s) longer than --max-len 64 tokens lost their oldest chat lines" in printed
    assert "(1 of them the start of the twin's own line too)" in printed
    assert "COHOST_TWIN__NAME=moss" in printed
    unnamed = "\n".join(describe(TrainResult(adapter=Path("a"), examples=1, steps=1, loss=1.0)))
    assert "longer than" not in unnamed
    assert "did not say which name" in unnamed


def _data(tmp_path: Path, texts: list[str], twin: str | None, name: str = "train") -> Path:
    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    if twin is not None:
        write_meta(data, DatasetMeta.rendered(twin))
    return data


def test_the_data_names_its_twin_and_every_record_must_open_as_that_twin(tmp_path: Path) -> None:
    data = _data(tmp_path, [EXAMPLE], "moss")
    assert meta_path(data).name == "train.jsonl.meta.json"
    meta = data_twin(data, read_records(data, ["text"]), "text")
    assert meta == DatasetMeta(twin="moss", header=HEADER)
    bare = _data(tmp_path, [EXAMPLE], None, "bare")
    assert data_twin(bare, [{"text": EXAMPLE}], "text") is None

    other = EXAMPLE.replace("moss", "twin")
    mixed = _data(tmp_path, [EXAMPLE, other], "moss", "mixed")
    with pytest.raises(InputError, match=r"1 record\(s\), the first record 2, do not open"):
        data_twin(mixed, read_records(mixed, ["text"]), "text")


def test_the_adapter_records_the_name_its_twin_was_trained_as(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    assert read_adapter_twin(adapter) is None
    write_adapter_twin(adapter, "moss", data=tmp_path / "train.jsonl")
    assert read_adapter_twin(adapter) == "moss"
    (adapter / TWIN_FILE).write_text("{}")
    with pytest.raises(InputError, match="names no twin"):
        read_adapter_twin(adapter)


def test_dpo_pairs_of_another_name_than_the_adapter_are_refused_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adapter = tmp_path / "sft"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "m"}')
    write_adapter_twin(adapter, "moss", data=tmp_path / "train.jsonl")
    pairs = tmp_path / "pairs.jsonl"
    prompt = EXAMPLE.replace("moss", "twin") + "twin:"
    pairs.write_text(json.dumps({"prompt": prompt, "chosen": " a", "rejected": " b"}) + "\n")
    write_meta(pairs, DatasetMeta.rendered("twin"))
    argv = ["train", "dpo", "--data", str(pairs), "--adapter", str(adapter)]
    assert main([*argv, "--out", str(tmp_path / "dpo")]) == 1
    err = capsys.readouterr().err
    assert "the pairs render the twin as 'twin', but the adapter was trained as 'moss'" in err
    assert not (tmp_path / "dpo").exists()
