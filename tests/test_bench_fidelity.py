"""The fidelity bench's pure parts, and its NLL and sampling on a tiny random Llama."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.fidelity import (
    KneserNey,
    Spelling,
    auc,
    auc_se,
    char_ngrams,
    classifier_auc,
    fit_prompt,
    folds_of,
    generate_lines,
    heldout_examples,
    is_emote,
    line_nlls,
    markov_lines,
    normal,
    split_example,
    spread,
    style,
    target_mask,
    window_of,
)
from cohost.app.build import dataset_options
from cohost.app.settings import Settings
from cohost.core.events import ChatEvent, ChatMessage
from cohost.text.render import render_example, render_prompt
from tests.support.smollm2 import split_by_time
from tests.support.tiny_llama import tiny_llama
from tests.train import PEFT_DEPRECATION, require_train_extra

TWIN = "twin"
LOGIN = "streamer"


def _message(n: int, login: str, text: str, ts: float | None = None) -> ChatMessage:
    return ChatMessage(
        id=str(n),
        channel="c",
        login=login,
        display_name=login,
        text=text,
        ts=float(n) if ts is None else ts,
    )


# ---------------------------------------------------------------- split and examples


def test_split_by_time_cuts_the_last_share_of_the_span_not_of_the_lines() -> None:
    times = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 90, 100]
    messages = [_message(n, "a", "hi", ts=t) for n, t in enumerate(times)]
    earlier, later = split_by_time(messages, 0.2)
    assert [m.ts for m in later] == [90, 100]  # the cut is at 80 s of a 100 s span
    assert earlier + later == messages
    assert split_by_time([], 0.2) == ([], [])


def test_an_example_splits_into_the_open_turn_and_the_twins_line() -> None:
    window = [_message(0, "ana", "hello"), _message(1, LOGIN, "hi ana LUL")]
    example = render_example(window, TWIN, twin_logins=[LOGIN])
    prompt, target = split_example(example, TWIN)
    assert prompt == render_prompt(window[:1], TWIN, twin_logins=[LOGIN])
    assert target == " hi ana LUL\n"
    assert prompt + target == example
    with pytest.raises(ValueError, match="does not end on a line"):
        split_example(render_example(window, TWIN, twin_logins=[LOGIN]) + "ana: more\n", TWIN)


def test_a_prompt_reads_back_as_its_window() -> None:
    window = [_message(0, "ana", "hello: there"), _message(1, LOGIN, "hi"), _message(2, "bo", "yo")]
    prompt = render_prompt(window, TWIN, twin_logins=[LOGIN])
    back = window_of(prompt, TWIN, LOGIN, key="h3")
    assert [(m.login, m.text) for m in back] == [
        ("ana", "hello: there"),
        (LOGIN, "hi"),
        ("bo", "yo"),
    ]
    assert [m.id for m in back] == ["h3-0", "h3-1", "h3-2"]


def test_held_out_examples_are_the_twins_lines_after_the_cut_with_their_window() -> None:
    chat = [
        ("ana", "hello all"),
        (LOGIN, "welcome in"),
        ("bo", "what game"),
        (LOGIN, "a roguelike"),
    ]
    chat += [("cyra", "nice jump"), (LOGIN, "pure luck"), ("dex", "gg"), (LOGIN, "thanks dex")]
    events: list[ChatEvent] = [_message(n, login, text) for n, (login, text) in enumerate(chat)]
    options = dataset_options(Settings(), logins=(LOGIN,), name=TWIN, window=3)
    examples, clean = heldout_examples(events, 4.5, options, LOGIN)
    assert clean
    assert [e.text for e in examples] == ["pure luck", "thanks dex"]
    # the window reaches back over the cut, as it did when the line was said
    assert [m.text for m in examples[0].window] == ["a roguelike", "nice jump"]
    assert examples[1].prompt.endswith("co-host.\n\ntwin: pure luck\ndex: gg\ntwin:")
    assert examples[1].target == " thanks dex\n"


def test_a_prompt_is_fitted_as_training_fitted_its_example() -> None:
    window = [_message(n, "ana", f"line number {n}") for n in range(5)]
    window.append(_message(5, LOGIN, "mine"))
    example = render_example(window, TWIN, twin_logins=[LOGIN])
    prompt, target = split_example(example, TWIN)
    header = "Twitch chat. twin is the streamer's co-host.\n\n"

    def count(text: str) -> int:
        return len(text.split())  # a word a token

    assert fit_prompt(prompt, target, 100, count, header) == prompt  # it fits: unchanged
    fitted = fit_prompt(prompt, target, count(header) + 4 * 2 + 2, count, header)
    assert fitted == header + "ana: line number 3\nana: line number 4\ntwin:"
    # too long for any window: header and the twin's line kept whole
    assert fit_prompt(prompt, target, 3, count, header) == header + "twin:"


def test_spread_keeps_both_ends_and_evenly_spaced_items() -> None:
    assert spread(list(range(10)), 4) == [0, 3, 6, 9]
    assert spread([1, 2], 5) == [1, 2]
    assert spread([7, 8, 9], 1) == [7]


# ---------------------------------------------------------------- the Markov stand-in


LINES = ["the boss is easy", "the boss is hard", "chat is wild", "the cat is asleep"]


@pytest.mark.parametrize("context", [("<s>", "<s>"), ("the", "boss"), ("never", "seen")])
def test_kneser_ney_is_a_distribution_over_the_vocabulary_and_unk(context: tuple[str, ...]) -> None:
    kn = KneserNey(LINES, order=3)
    total = sum(kn._prob(w, context) for w in [*kn.vocab, "<unk>"])
    assert total == pytest.approx(1.0)


def test_kneser_ney_prefers_seen_lines_and_still_scores_unseen_words() -> None:
    kn = KneserNey(LINES, order=3)
    seen, words = kn.line_logprob("the boss is easy")
    assert words == 5  # four words and the line's end
    shuffled, _ = kn.line_logprob("easy is boss the")
    unseen, _ = kn.line_logprob("the boss is zzyzx")
    bare, _ = kn.line_logprob("the boss is zzyzx", spell=False)
    assert seen > shuffled
    assert math.isfinite(unseen) and unseen < bare < seen
    assert kn._prob("is", ("the", "boss")) > 0.5  # "the boss" is always followed by "is"


def test_an_order_one_model_is_a_smoothed_unigram() -> None:
    kn = KneserNey(["a a b"], order=1)
    assert kn._prob("a", ()) > kn._prob("b", ()) > kn._prob("<unk>", ())


def test_the_spelling_model_is_a_distribution_over_its_characters() -> None:
    spelling = Spelling(["ab", "abc"])
    end = math.exp(spelling.logprob(""))  # the empty word: just its end
    # P(c) of each seen character: a one-letter word less its end
    seen = sum(math.exp(spelling.logprob(c)) / end for c in spelling.counts if c != "\0")
    other = 1 / spelling.total  # the bucket of every unseen character
    assert seen + end + other == pytest.approx(1.0)
    assert spelling.logprob("ab") > spelling.logprob("a\u0416")  # a seen letter beats an unseen one


def test_the_markov_twin_answers_each_window_from_the_lines_it_learnt() -> None:
    windows = [[_message(0, "ana", "how is the boss")], [_message(1, "bo", "is the cat ok")]]
    lines = markov_lines(LINES, windows, LOGIN, seed=3)
    assert len(lines) == 2
    vocab = {w for line in LINES for w in line.split()}
    assert all(line and set(line.split()) <= vocab for line in lines)
    assert markov_lines([], windows, LOGIN, seed=3) == ["", ""]  # untrained: nothing to say


# ---------------------------------------------------------------- style


@pytest.mark.parametrize(
    ("word", "emote"),
    [
        ("dkdiaJovi", True),
        ("adumF", True),
        ("imagin46Blop", True),
        ("PogChamp", True),
        ("LUL", True),
        ("Kappa", True),
        ("KEKW,", True),
        ("<3", True),
        ("lol", False),
        ("LMAOOOO", False),
        ("Hello", False),
        ("YEAH", False),
        ("@ElenaManetta", False),
        ("", False),
    ],
)
def test_emote_heuristic(word: str, emote: bool) -> None:
    assert is_emote(word) is emote


def test_style_figures_of_known_lines() -> None:
    lines = ["LUL LUL nice", "HELLO there", ""]
    trained = {normal("hello   THERE"), normal("other")}
    got = style(lines, trained, own={normal("LUL LUL nice")})
    assert got.lines == 3
    assert got.mean_words == pytest.approx(5 / 3)
    assert got.emote_share == pytest.approx(2 / 5)
    assert got.capitals_share == pytest.approx(11 / 20)  # LULLUL and HELLO of 20 letters
    assert got.copied == pytest.approx(1 / 3)
    assert got.copied_own == pytest.approx(1 / 3)
    assert got.empty == pytest.approx(1 / 3)


# ---------------------------------------------------------------- the classifier


def test_auc_by_ranks_on_known_inputs() -> None:
    assert auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    # positives at 0.4 and 0.8 against negatives at 0.1, 0.5 and 0.8: (1 + 2 + a tie) / 6
    assert auc([0.1, 0.4, 0.5, 0.8, 0.8], [0, 1, 0, 1, 0]) == pytest.approx(3.5 / 6)
    with pytest.raises(ValueError, match="both labels"):
        auc([0.1, 0.2], [1, 1])


def test_auc_standard_error_shrinks_with_more_lines() -> None:
    assert auc_se(0.5, 40, 40) == pytest.approx(0.0645, abs=1e-3)
    assert auc_se(0.5, 400, 400) < auc_se(0.5, 40, 40) / 3
    assert auc_se(1.0, 40, 40) == 0.0


def test_folds_spread_each_label_evenly_and_keep_equal_lines_together() -> None:
    labels = [0] * 10 + [1] * 5
    fold = folds_of(labels, [str(i) for i in range(15)], 5, seed=1)
    for f in range(5):
        assert [labels[i] for i in range(15) if fold[i] == f].count(0) == 2
        assert [labels[i] for i in range(15) if fold[i] == f].count(1) == 1
    fold = folds_of([0, 0, 1, 1], ["lul", "a", "lul", "b"], 2, seed=1)
    assert fold[0] == fold[2]


def test_char_ngrams_mark_the_line_ends() -> None:
    grams = char_ngrams("ab", (1, 2))
    assert grams == {"\x02": 1, "a": 1, "b": 1, "\x03": 1, "\x02a": 1, "ab": 1, "b\x03": 1}


def test_the_classifier_tells_different_lines_apart_and_not_the_same_ones() -> None:
    shouting = [f"WOW THAT WAS {w} LUL" for w in ("GREAT", "NUTS", "WILD", "FAST", "HUGE")] * 2
    quiet = [f"i think the {w} was fine" for w in ("boss", "map", "run", "jump", "cat")] * 2
    assert classifier_auc(quiet, shouting) > 0.95
    # copies in both classes are held out together, so the same lines tie: 0.5, not below
    assert classifier_auc(quiet, list(reversed(quiet))) == 0.5


# ---------------------------------------------------------------- NLL on a tiny random Llama


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    """A random one-layer Llama and a byte-level BPE tokenizer (no downloads)."""
    require_train_extra()
    texts = [f"ana: hello\ntwin: {line}\n" for line in LINES] * 3
    model, tokenizer = tiny_llama(texts, vocab_size=300, max_positions=256)
    tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer


def test_target_mask_keeps_only_tokens_past_the_prompt() -> None:
    offsets = [(0, 0), (0, 3), (3, 5), (5, 6), (6, 9), (9, 10)]
    assert target_mask(offsets, 5) == [False, False, False, True, True, True]
    assert target_mask([(0, 3), (3, 7)], 5) == [False, True]  # a straddling token counts


@pytest.mark.filterwarnings(PEFT_DEPRECATION)
def test_line_nll_counts_only_the_targets_tokens_and_ignores_padding(tiny: tuple[Any, Any]) -> None:
    import torch  # noqa: PLC0415

    model, tokenizer = tiny
    pairs = [
        ("ana: hello\ntwin:", " the boss is easy\n"),
        ("ana: hello there and a much longer window\nbo: yes\ntwin:", " chat\n"),
        ("twin:", " the cat is asleep\n"),
    ]
    batched = line_nlls(model, tokenizer, pairs, batch=3)
    alone = [line_nlls(model, tokenizer, [p], batch=1)[0] for p in pairs]
    for (a, n), (b, m) in zip(batched, alone, strict=True):
        assert n == m
        assert a == pytest.approx(b, rel=1e-4)
    # by hand: the log-softmax of each target token given everything before it
    prompt, target = pairs[0]
    ids = tokenizer(prompt + target)["input_ids"]
    n_prompt = len(tokenizer(prompt)["input_ids"])  # ':' and ' the' never merge
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], dim=-1)
    by_hand = -sum(float(logp[i - 1, ids[i]]) for i in range(n_prompt, len(ids)))
    assert batched[0][1] == len(ids) - n_prompt
    assert batched[0][0] == pytest.approx(by_hand, rel=1e-4)


def test_generated_lines_are_one_line_each(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    prompts = ["ana: hello\ntwin:", "bo: what game\nana: yes\ntwin:"]
    lines = generate_lines(model, tokenizer, prompts, seed=1, batch=2, max_new_tokens=8)
    assert len(lines) == 2
    assert all("\n" not in line for line in lines)
    assert tokenizer.padding_side == "right"  # put back as it was
    assert generate_lines(model, tokenizer, prompts, seed=1, batch=2, max_new_tokens=8) == lines


def test_the_bench_runs_as_a_module_and_explains_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.fidelity", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert "--holdout" in done.stdout and "--adapter" in done.stdout
