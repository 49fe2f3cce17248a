"""Fidelity: how close the twin comes to the streamer, on the held-out end of a chat log.

    .venv/bin/python -m bench.fidelity --quick --log LOG --twin LOGIN  # 40 held-out lines, < 3 min
    .venv/bin/python -m bench.fidelity --log LOG --twin LOGIN          # every held-out line

The log is split by time (`split_by_time`): the twin's LoRA is trained on the first part (or
reused from the cache, or given with --adapter) and every figure is measured on the last
`--holdout` of the time span, which no model has seen. The held-out lines are the twin's lines
there that `cohost dataset build` would have made examples of (same cleaning rules, same window
of the previous messages), each rendered exactly as the LoRA was trained: the header, the window,
and the twin's turn left open as `twin:`; the target is what follows it, ` text\\n`. Like
`cohost train lora`, a window longer than --max-len tokens loses its oldest lines (default: the
test LoRA's training value; give the value an --adapter was trained with, or 0 for whole windows).

What is measured:
- Per-token NLL of the target under the base model and under base + LoRA (transformers + peft
  in-process, CPU, float32); perplexity = exp(mean NLL per token). Lines where the LoRA's NLL
  per token is lower than the base's count as "better".
- The embedded Markov twin gives no probability, so a stand-in that learns from the same lines
  (the streamer's own in the trained part) does: a word-level interpolated Kneser-Ney model of
  the chain's order + 1, whose unseen words are spelled by a character model. Its perplexity is
  per WORD (the line's end counts as one), not per token, so it does not compare with the
  models'. Bits per character of ` text\\n` are given for all three: that one compares.
- Style side by side, for the real held-out lines and for lines each twin generates for the
  same windows (models: sampled at temperature 0.8, up to 40 new tokens, cut at the first
  newline; Markov: the embedded `MarkovSimulator` itself, its first line): mean words, emote
  share (see `is_emote`), capitals share (upper-case letters of all letters), and the share
  copied verbatim (case and spacing aside) from any line of the trained part.
- AUC of a character n-gram naive Bayes classifier, 5-fold cross-validated, telling each twin's
  lines from the real ones: 0.5 means it cannot tell them apart, 1.0 always can. Equal lines
  share a fold. As a floor, the same classifier on the real held-out lines against as many of
  the streamer's own trained lines (`auc_real`): two samples of the same person. With little to
  find, cross-validated AUCs fall below 0.5 (a known small-sample bias), so read a twin's AUC
  against that floor; with 40 lines a side one standard error is about 0.06.

Torch runs one thread unless --threads says otherwise: sampled lines depend on float rounding,
which depends on the threads, so one thread repeats its figures anywhere; and on a shared
machine (load above the cores) two threads' OpenMP barriers made the same run several times
slower, not faster.

The key figures are printed last, on one line of name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cohost.app.build import dataset_options
from cohost.app.settings import load_settings
from cohost.chatlog.log import open_log
from cohost.core.events import ChatEvent, ChatMessage
from cohost.core.options import SimulatorSettings
from cohost.core.ports import SimRequest
from cohost.dataset.build import BuildOptions, DatasetBuilder
from cohost.embedded.markov import MarkovSimulator, streamer_lines
from cohost.text.render import DEFAULT_FORMAT, ChatFormat, clean_text
from cohost.train.lora import fit_from_start, token_counter
from tests.support.smollm2 import (
    TRAIN_ARGS,
    TWIN,
    ensure_smollm2,
    ensure_twin_lora,
    split_by_time,
)

SEED = 7
QUICK_LINES = 40
TEMPERATURE = 0.8
MAX_NEW_TOKENS = 40
FOLDS = 5
NGRAMS = (1, 4)
# the --max-len the test LoRA is trained with: windows are fitted to it as training fitted them
TRAINED_MAX_LEN = int(
    TRAIN_ARGS[TRAIN_ARGS.index("--max-len") + 1]
)  # character n-gram lengths of the classifier, both ends included


# ---------------------------------------------------------------- held-out examples


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One held-out line of the twin: the prompt it follows and its text."""

    prompt: str  # header, window, and `twin:` left open
    target: str  # what the model should write after the prompt: ` text\n`
    text: str  # the line itself
    window: tuple[ChatMessage, ...]  # the window read back from the prompt (for the Markov twin)


def split_example(example: str, twin: str, fmt: ChatFormat = DEFAULT_FORMAT) -> tuple[str, str]:
    """A rendered training example as (prompt with the twin's turn open, target after it)."""
    body = example[:-1] if example.endswith("\n") else example
    cut = body.rfind("\n") + 1
    last = example[cut:]
    opening = fmt.opening(twin)
    if not last.startswith(opening):
        raise ValueError(f"the example does not end on a line of {twin!r}: {last!r}")
    return example[:cut] + opening, last[len(opening) :]


def window_of(
    prompt: str, twin: str, twin_login: str, fmt: ChatFormat = DEFAULT_FORMAT, *, key: str = "w"
) -> list[ChatMessage]:
    """The chat lines of a prompt as messages; the twin's lines under the twin's login.

    Ids are `key` and the line's place: unique per window, since a seeded Markov twin draws by
    the id of the last message.
    """
    header = fmt.header.replace("{twin}", twin)
    body = prompt[len(header) :] if prompt.startswith(header) else prompt
    separator = fmt.separator.rstrip()
    messages = []
    for i, line in enumerate(body.split("\n")[:-1]):  # the last is the open turn
        speaker, _, text = line[len(fmt.prefix) :].partition(separator)
        login = twin_login if speaker == twin else speaker.lower()
        messages.append(
            ChatMessage(
                id=f"{key}-{i}",
                channel="",
                login=login,
                display_name=speaker,
                text=text.strip(),
                ts=float(i),
            )
        )
    return messages


def examples_of(events: Iterable[ChatEvent], options: BuildOptions) -> list[str]:
    """The training examples `cohost dataset build` makes of these events, in order."""
    return list(DatasetBuilder(options).from_log(events))


def heldout_examples(
    events: Sequence[ChatEvent], cut: float, options: BuildOptions, twin_login: str
) -> tuple[list[Example], bool]:
    """The examples whose twin line lies at or after `cut`, and whether the split was clean.

    The builder holds lines back for a while (a later deletion may remove them), so examples
    are not matched to time directly: the examples of the whole log, less as many as the
    trained part alone gives. They are the same ones unless a held-out deletion reached back
    over the cut (then the split is reported as not clean).
    """
    whole = examples_of(events, options)
    earlier = examples_of([e for e in events if e.ts < cut], options)
    clean = whole[: len(earlier)] == earlier
    out = []
    for n, text in enumerate(whole[len(earlier) :]):
        prompt, target = split_example(text, options.twin, options.fmt)
        window = window_of(prompt, options.twin, twin_login, options.fmt, key=f"h{n}")
        out.append(Example(prompt=prompt, target=target, text=target.strip(), window=tuple(window)))
    return out, clean


def spread(items: Sequence[Any], n: int) -> list[Any]:
    """At most n items, evenly spaced over the sequence (all of them when n is larger)."""
    if n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] if n > 1 else items[0] for i in range(n)]


# ---------------------------------------------------------------- the models' NLL


def target_mask(offsets: Sequence[tuple[int, int]], start: int) -> list[bool]:
    """Which tokens belong to the target: those ending past the prompt's `start` characters.

    Special tokens (offsets (0, 0)) never do; a token that straddles the cut counts as target.
    """
    return [end > start and end > begin for begin, end in offsets]


def line_nlls(
    model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, batch: int = 4
) -> list[tuple[float, int]]:
    """(summed NLL in nats, token count) of each target after its prompt, teacher-forced.

    Rows are padded on the left, so every target ends the row and only the last positions'
    logits are computed (the vocabulary projection is a fifth of a small model's work).
    """
    import torch  # noqa: PLC0415 (the train extra, loaded on use)

    out: list[tuple[float, int]] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        rows, labels = [], []
        for prompt, target in chunk:
            enc = tokenizer(prompt + target, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            mask = target_mask(enc["offset_mapping"], len(prompt))
            rows.append(ids)
            labels.append([t if m else -100 for t, m in zip(ids, mask, strict=True)])
        width = max(map(len, rows))
        keep = max(sum(lab != -100 for lab in row) for row in labels) + 1
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        target = torch.tensor([[-100] * (width - len(lab)) + lab for lab in labels])
        with torch.no_grad():
            logits = model(
                input_ids=input_ids,
                attention_mask=attention,
                position_ids=positions,
                logits_to_keep=keep,
            ).logits.float()
        wanted = target[:, width - keep + 1 :]  # what the kept positions but the last predict
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), wanted, ignore_index=-100, reduction="none"
        )
        counted = wanted != -100
        for row in range(len(chunk)):
            out.append((float(nll[row].sum()), int(counted[row].sum())))
    return out


def fit_prompt(
    prompt: str, target: str, limit: int, count: Callable[[str], int], header: str
) -> str:
    """The prompt as training fitted its example to `limit` tokens: oldest chat lines dropped.

    The twin's line is never cut here (a line too long for the limit keeps the header).
    """
    fitted = fit_from_start(prompt + target, limit, count, header=header, cut_last=False)
    return fitted.text[: len(fitted.text) - len(target)]


def generate_lines(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    seed: int,
    batch: int = 8,
    temperature: float = TEMPERATURE,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> list[str]:
    """One sampled continuation per prompt, cut at its first newline."""
    import torch  # noqa: PLC0415
    from transformers import StoppingCriteria, StoppingCriteriaList  # noqa: PLC0415

    class Newline(StoppingCriteria):
        """Stops a row once its new text has a line break."""

        def __init__(self, prompt_len: int) -> None:
            self.prompt_len = prompt_len

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            texts = tokenizer.batch_decode(input_ids[:, self.prompt_len :])
            return torch.tensor([("\n" in t) for t in texts], dtype=torch.bool)

    torch.manual_seed(seed)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out: list[str] = []
    try:
        for start in range(0, len(prompts), batch):
            enc = tokenizer(list(prompts[start : start + batch]), return_tensors="pt", padding=True)
            width = enc["input_ids"].shape[1]
            with torch.no_grad():
                made = model.generate(
                    **enc,
                    do_sample=True,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                    stopping_criteria=StoppingCriteriaList([Newline(width)]),
                )
            for text in tokenizer.batch_decode(made[:, width:], skip_special_tokens=True):
                out.append(clean_text(text.split("\n", 1)[0]))
    finally:
        tokenizer.padding_side = side
    return out


# ---------------------------------------------------------------- the Markov twin's probability

_BOS, _EOS, _UNK = "<s>", "</s>", "<unk>"


class Spelling:
    """P(word) as its characters and an end, each from add-one counts of the trained words.

    Characters never seen share one bucket, spread over 2**16 possible code points: close
    enough to a proper distribution for the words of a chat log.
    """

    OTHER = 2**16

    def __init__(self, words: Iterable[str]) -> None:
        self.counts: Counter[str] = Counter()
        for word in words:
            self.counts.update(word)
            self.counts["\0"] += 1  # the end of a word
        self.total = sum(self.counts.values()) + len(self.counts) + 1

    def logprob(self, word: str) -> float:
        """Natural-log probability of the word's spelling."""
        lp = 0.0
        for c in [*word, "\0"]:
            seen = self.counts.get(c, 0)
            lp += math.log((seen + 1) / self.total)
            if not seen:
                lp -= math.log(self.OTHER)
        return lp


class KneserNey:
    """A word n-gram with interpolated Kneser-Ney smoothing; unseen words go through <unk>.

    P(<unk>) comes from the interpolation's uniform floor over the vocabulary and <unk>; an
    unseen word's probability is that times its spelling's, so the model scores any line.
    """

    def __init__(self, lines: Iterable[str], *, order: int = 3, discount: float = 0.75) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        self.order = order
        self.discount = discount
        # counts[k][context] -> follower counts, k = context length; the highest order keeps
        # raw counts, the lower ones continuation counts (distinct words before), as KN does.
        self.counts: list[defaultdict[tuple[str, ...], Counter[str]]] = [
            defaultdict(Counter) for _ in range(order)
        ]
        seen: set[tuple[str, ...]] = set()
        vocab: set[str] = set()
        for line in lines:
            words = line.split()
            if not words:
                continue
            vocab.update(words)
            padded = [_BOS] * (order - 1) + [*words, _EOS]
            for i in range(order - 1, len(padded)):
                gram = tuple(padded[i - order + 1 : i + 1])
                self.counts[order - 1][gram[:-1]][gram[-1]] += 1
                for k in range(order - 1):  # lower orders: count each distinct gram once
                    lower = gram[order - 1 - k - 1 :]
                    if lower not in seen:
                        seen.add(lower)
                        self.counts[k][lower[1:-1] if k else ()][lower[-1]] += 1
        self.vocab = vocab | {_EOS}
        self.spelling = Spelling(vocab)
        # per context: (total, distinct followers), computed once
        self._norm = [
            {ctx: (sum(c.values()), len(c)) for ctx, c in level.items()} for level in self.counts
        ]

    def _prob(self, word: str, context: tuple[str, ...]) -> float:
        p = 1.0 / (len(self.vocab) + 1)  # the uniform floor, <unk> included
        for k in range(self.order):
            ctx = context[len(context) - k :] if k else ()
            norm = self._norm[k].get(ctx)
            if norm is None:
                continue  # an unseen context passes the lower order's probability through
            total, types = norm
            count = self.counts[k][ctx].get(word, 0)
            p = max(count - self.discount, 0.0) / total + self.discount * types / total * p
        return p

    def line_logprob(self, line: str, *, spell: bool = True) -> tuple[float, int]:
        """(natural-log probability of the line, words predicted including its end).

        With `spell=False` an unseen word costs only P(<unk>): the usual closed-vocabulary
        figure, which flatters a model that knows few words.
        """
        words = line.split()
        context = [_BOS] * (self.order - 1)
        lp = 0.0
        for word in [*words, _EOS]:
            if word in self.vocab:
                lp += math.log(self._prob(word, tuple(context)))
            else:
                lp += math.log(self._prob(_UNK, tuple(context)))
                lp += self.spelling.logprob(word) if spell else 0.0
            context = [*context[1:], word] if self.order > 1 else context
        return lp, len(words) + 1


def markov_lines(
    train: Sequence[str], windows: Sequence[Sequence[ChatMessage]], twin_login: str, *, seed: int
) -> list[str]:
    """The embedded twin's first own line for each window (empty when it says nothing)."""
    settings = SimulatorSettings()
    simulator = MarkovSimulator(
        order=settings.markov_order, seed=seed, max_words=settings.markov_max_words
    )
    simulator.train(train)

    async def first(window: Sequence[ChatMessage]) -> str:
        request = SimRequest(window=window, twin=twin_login, max_lines=1)
        async for line in simulator.stream(request):
            if line.is_twin:
                return clean_text(line.text)
        return ""

    async def all_lines() -> list[str]:
        return [await first(w) for w in windows]

    return asyncio.run(all_lines())


# ---------------------------------------------------------------- style

# Twitch's global and common third-party (BTTV / FFZ / 7TV) emotes that the shapes below miss.
KNOWN_EMOTES = frozenset(
    {
        "LUL", "LUL4", "KEKW", "OMEGALUL", "Kappa", "Keepo", "PogChamp", "Pog", "PogU",
        "POGGERS", "Poggers", "Kreygasm", "4Head", "EZ", "BibleThump", "ResidentSleeper",
        "WutFace", "NotLikeThis", "SeemsGood", "HeyGuys", "VoHiYo", "CoolStoryBob", "DansGame",
        "SMOrc", "FeelsBadMan", "FeelsGoodMan", "FeelsStrongMan", "PepeHands", "PepeLaugh",
        "Sadge", "monkaS", "monkaW", "catJAM", "TriHard", "BabyRage", "SwiftRage", "Jebaited",
        "CoolCat", "KappaPride", "LULW", "Clap", "PauseChamp", "WeirdChamp", "widepeepoHappy",
        "peepoHappy", "peepoSad", "GivePLZ", "TakeNRG", "MrDestructoid", "DatSheffy",
        "BloodTrail", "DxCat", "FailFish", "GingerPower", "HotPokket", "KomodoHype", "OhMyDog",
        "PJSalt", "PunchTrees", "StinkyCheese", "TheIlluminati", "BrokeBack", "OSFrog",
        "MingLee", "<3",
    }
)  # fmt: skip
# A channel emote is the channel's lower-case prefix, then a capital or digit (`dkdiaJovi`,
# `adumF`, `psaSmug`); a global one is often CamelCase with an inner capital (`PogChamp`).
_CHANNEL_EMOTE = re.compile(r"^[a-z][a-z0-9]{2,9}[A-Z0-9][A-Za-z0-9]*$")
_CAMEL_EMOTE = re.compile(r"^[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*$")
_EDGES = re.compile(r"^[^\w<]+|[^\w>]+$")


def is_emote(word: str) -> bool:
    """Whether a word looks like a Twitch emote: known, or shaped like a channel or CamelCase one.

    A heuristic: CamelCase brand names (`YouTube`, `McDonald`) count too, and a channel emote
    without an inner capital (`adumf`) does not.
    """
    if word.startswith("@"):
        return False  # a mention
    word = _EDGES.sub("", word)
    return word in KNOWN_EMOTES or bool(_CHANNEL_EMOTE.match(word) or _CAMEL_EMOTE.match(word))


def normal(text: str) -> str:
    """A line as compared for copying: case and spacing aside."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True, slots=True, kw_only=True)
class Style:
    """How a set of lines looks."""

    lines: int
    mean_words: float
    emote_share: float  # of all words
    capitals_share: float  # of all letters
    copied: float  # share of lines equal to a line of the trained part (anyone's)
    copied_own: float  # ... to one of the twin's own there
    empty: float  # share of lines with no text at all


def style(lines: Sequence[str], trained: set[str], own: set[str]) -> Style:
    """The style figures of lines, against the normalised lines of the trained part."""
    words = [w for line in lines for w in line.split()]
    letters = [c for line in lines for c in line if c.isalpha()]
    n = max(1, len(lines))
    return Style(
        lines=len(lines),
        mean_words=len(words) / n,
        emote_share=sum(map(is_emote, words)) / max(1, len(words)),
        capitals_share=sum(c.isupper() for c in letters) / max(1, len(letters)),
        copied=sum(bool(line) and normal(line) in trained for line in lines) / n,
        copied_own=sum(bool(line) and normal(line) in own for line in lines) / n,
        empty=sum(not line.strip() for line in lines) / n,
    )


# ---------------------------------------------------------------- the classifier


def char_ngrams(text: str, sizes: tuple[int, int] = NGRAMS) -> Counter[str]:
    """Counts of the character n-grams of a line, its start and end marked."""
    padded = f"\x02{text}\x03"
    return Counter(
        padded[i : i + n] for n in range(sizes[0], sizes[1] + 1) for i in range(len(padded) - n + 1)
    )


def naive_bayes_scores(
    train: Sequence[Counter[str]], labels: Sequence[int], test: Sequence[Counter[str]]
) -> list[float]:
    """Log-odds of label 1 for each test line: multinomial naive Bayes, add-one smoothing."""
    totals: list[Counter[str]] = [Counter(), Counter()]
    docs = [0, 0]
    for grams, label in zip(train, labels, strict=True):
        totals[label].update(grams)
        docs[label] += 1
    vocab = set(totals[0]) | set(totals[1])
    sums = [sum(t.values()) + len(vocab) for t in totals]
    prior = math.log(max(docs[1], 1) / max(docs[0], 1))
    scores = []
    for grams in test:
        score = prior
        for gram, count in grams.items():
            if gram in vocab:
                score += count * (
                    math.log((totals[1][gram] + 1) / sums[1])
                    - math.log((totals[0][gram] + 1) / sums[0])
                )
        scores.append(score)
    return scores


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties sharing their mean rank."""
    values = np.asarray(scores, dtype=float)
    truth = np.asarray(labels, dtype=int)
    positives, negatives = int(truth.sum()), int(len(truth) - truth.sum())
    if not positives or not negatives:
        raise ValueError("AUC needs both labels")
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):  # tied scores share their mean rank
        j = i
        while j + 1 < len(values) and values[order[j + 1]] == values[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[truth == 1].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def auc_se(area: float, positives: int, negatives: int) -> float:
    """The standard error of an AUC (Hanley and McNeil, 1982)."""
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    var = (
        area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)
    ) / (positives * negatives)
    return math.sqrt(max(var, 0.0))


def folds_of(labels: Sequence[int], groups: Sequence[str], k: int, seed: int) -> list[int]:
    """A fold number for each item: equal groups share a fold, each label spread over k folds.

    Equal lines must be tested together: a line held out while its copies in the other class
    are trained on scores as the other class, and cross-validation then reads copies as
    anti-evidence (two identical sets would give an AUC near 0, not 0.5).
    """
    rng = random.Random(seed)
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    order = list(members.values())
    rng.shuffle(order)
    # groups mostly of one label, then the other: round-robin then spreads each label evenly
    order.sort(key=lambda idx: sum(labels[i] for i in idx) / len(idx))
    fold = [0] * len(labels)
    for n, idx in enumerate(order):
        for i in idx:
            fold[i] = n % k
    return fold


def classifier_auc(real: Sequence[str], made: Sequence[str], *, folds: int = FOLDS) -> float:
    """Cross-validated AUC of telling `made` lines (1) from `real` ones (0)."""
    texts = [*real, *made]
    labels = [0] * len(real) + [1] * len(made)
    grams = [char_ngrams(t) for t in texts]
    fold = folds_of(labels, [normal(t) for t in texts], folds, SEED)
    scores = [0.0] * len(texts)
    for f in set(fold):
        train = [i for i in range(len(texts)) if fold[i] != f]
        test = [i for i in range(len(texts)) if fold[i] == f]
        got = naive_bayes_scores(
            [grams[i] for i in train], [labels[i] for i in train], [grams[i] for i in test]
        )
        for i, score in zip(test, got, strict=True):
            scores[i] = score
    return auc(scores, labels)


# ---------------------------------------------------------------- the run


def load_models(base: Path, adapter: Path, threads: int | None = None) -> tuple[Any, Any]:
    """The base model with the LoRA attached (float32, eval) and its tokenizer."""
    import torch  # noqa: PLC0415
    from peft import PeftModel  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415
    from transformers.utils import logging  # noqa: PLC0415

    if threads:
        torch.set_num_threads(threads)
    logging.disable_progress_bar()
    # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`: not ours to fix
    warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    return model, tokenizer


def ppl(pairs: Sequence[tuple[float, int]]) -> tuple[float, float]:
    """(mean NLL per unit, its exp) over (summed NLL, units) pairs."""
    nll = sum(p[0] for p in pairs) / max(1, sum(p[1] for p in pairs))
    return nll, math.exp(nll)


def bits_per_char(pairs: Sequence[tuple[float, int]], targets: Sequence[str]) -> float:
    """Bits per character of the targets, from their summed NLLs in nats."""
    return sum(p[0] for p in pairs) / max(1, sum(map(len, targets))) / math.log(2)


def _lines_kept(prompts: Sequence[str], chosen: Sequence[Example]) -> float:
    """The mean chat lines left in fitted prompts (the open turn aside)."""
    return sum(
        p.count("\n") - e.prompt.count("\n") + len(e.window)
        for p, e in zip(prompts, chosen, strict=True)
    ) / max(1, len(chosen))


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", type=Path, required=True, help="a chat log cohost reads")
    parser.add_argument("--twin", required=True, help="the login whose lines the twin learns")
    parser.add_argument("--holdout", type=float, default=0.2, help="last share of the time span")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_LINES} held-out lines")
    parser.add_argument("--lines", type=int, help="at most this many held-out lines")
    parser.add_argument("--adapter", type=Path, help="a trained LoRA (default: train or reuse)")
    parser.add_argument("--base", type=Path, help="the base model folder (default: SmolLM2)")
    parser.add_argument(
        "--max-len",
        type=int,
        default=TRAINED_MAX_LEN,
        help="fit each window to this many tokens, oldest lines dropped, as training did "
        f"(default: the test LoRA's {TRAINED_MAX_LEN}; 0 keeps whole windows)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the figures repeat anywhere; 0: torch's own choice)",
    )
    args = parser.parse_args()
    if not 0 < args.holdout < 1:
        parser.error("--holdout is a share between 0 and 1")
    started = time.monotonic()
    twin_login = args.twin.lower().lstrip("@")
    cap = args.lines or (QUICK_LINES if args.quick else None)
    load = os.getloadavg()[0]
    threads = args.threads or None
    print(
        f"cpus={os.cpu_count()} load={load:.1f} threads={threads or 'torch default'} "
        f"log={args.log} twin={twin_login} holdout={args.holdout} "
        f"lines={'all' if cap is None else cap}",
        flush=True,
    )

    events = list(open_log(args.log))
    messages = [e for e in events if type(e) is ChatMessage]
    earlier, later = split_by_time(messages, args.holdout)
    if not later:
        print("the log has no messages", file=sys.stderr)
        return 2
    cut = later[0].ts
    options = dataset_options(load_settings(), logins=(twin_login,), name=TWIN)
    heldout, clean = heldout_examples(events, cut, options, twin_login)
    own_later = sum(m.login.lower() == twin_login for m in later)
    if not heldout:
        print(
            f"{twin_login} has {own_later} line(s) in the held-out part and none makes an "
            "example: nothing to measure (is the login right?)",
            file=sys.stderr,
        )
        return 2
    chosen = spread(heldout, cap) if cap else heldout
    print(
        f"split: {len(earlier)} messages trained on, {len(later)} held out; {own_later} "
        f"held-out line(s) of {twin_login}, {len(heldout)} make examples (window "
        f"{options.window}), {len(chosen)} measured"
        + ("" if clean else "; WARNING: a held-out deletion reached back over the cut"),
        flush=True,
    )

    base = args.base or ensure_smollm2()
    train_s = 0.0
    if args.adapter:
        adapter = args.adapter
    else:
        print("the LoRA: training or reusing it (the first time takes minutes)...", flush=True)
        lora = ensure_twin_lora(base, args.log, twin_login, args.holdout)
        adapter, train_s = lora.adapter, lora.train_seconds
        print(
            f"LoRA {f'trained in {train_s:.0f} s' if train_s else 'from the cache'}: {adapter}",
            flush=True,
        )

    t0 = time.monotonic()
    model, tokenizer = load_models(base, adapter, threads)
    print(f"models loaded in {time.monotonic() - t0:.0f} s; scoring the held-out lines", flush=True)
    prompts = [e.prompt for e in chosen]
    if args.max_len:
        header = options.fmt.header.replace("{twin}", options.twin)
        count = token_counter(tokenizer)
        prompts = [fit_prompt(e.prompt, e.target, args.max_len, count, header) for e in chosen]
        fitted = sum(p != e.prompt for p, e in zip(prompts, chosen, strict=True))
        print(
            f"{fitted} of {len(chosen)} windows fitted to {args.max_len} tokens as in training "
            f"(lines kept on average: {_lines_kept(prompts, chosen):.1f} of "
            f"{sum(len(e.window) for e in chosen) / len(chosen):.1f})",
            flush=True,
        )
    pairs = [(p, e.target) for p, e in zip(prompts, chosen, strict=True)]
    nll_lora = line_nlls(model, tokenizer, pairs)
    with model.disable_adapter():
        nll_base = line_nlls(model, tokenizer, pairs)
    nll_s = time.monotonic() - t0

    own_train = [clean_text(t) for t in streamer_lines(earlier, twin_login)]
    markov_order = SimulatorSettings().markov_order
    kn = KneserNey(own_train, order=markov_order + 1)
    word_lp = [kn.line_logprob(e.text) for e in chosen]
    nll_markov = [(-lp, n) for lp, n in word_lp]
    pm_unk = math.exp(
        sum(-kn.line_logprob(e.text, spell=False)[0] for e in chosen)
        / max(1, sum(n for _, n in word_lp))
    )
    held_words = [w for e in chosen for w in e.text.split()]
    oov = sum(w not in kn.vocab for w in held_words) / max(1, len(held_words))

    targets = [e.target for e in chosen]
    per_token = [(a / n, b / m) for (a, n), (b, m) in zip(nll_lora, nll_base, strict=True)]
    better = sum(lo < ba for lo, ba in per_token)
    nb, pb = ppl(nll_base)
    nl, pl = ppl(nll_lora)
    nm, pm = ppl(nll_markov)
    bpc = {
        "base": bits_per_char(nll_base, targets),
        "lora": bits_per_char(nll_lora, targets),
        "markov": bits_per_char(nll_markov, targets),
    }
    tokens = sum(n for _, n in nll_lora)
    words = sum(n for _, n in nll_markov)
    print(f"\nheld-out lines of the twin: {len(chosen)} ({tokens} tokens, {words} words + ends)")
    print(f"{'model':<8}{'unit':>7}{'NLL/unit':>10}{'ppl':>10}{'bits/char':>11}  note")
    print(f"{'base':<8}{'token':>7}{nb:>10.3f}{pb:>10.1f}{bpc['base']:>11.3f}")
    print(
        f"{'lora':<8}{'token':>7}{nl:>10.3f}{pl:>10.1f}{bpc['lora']:>11.3f}  "
        f"better than base on {better} of {len(chosen)} lines"
    )
    print(
        f"{'markov':<8}{'word':>7}{nm:>10.3f}{pm:>10.1f}{bpc['markov']:>11.3f}  "
        f"per WORD: Kneser-Ney order {markov_order + 1} on the {len(own_train)} trained lines "
        "of the twin, the chain's stand-in"
    )
    print(
        f"(perplexity per token and per word do not compare; bits per character of ' text\\n' "
        f"do. The models read the window, the Markov stand-in only the line itself. "
        f"{oov:.0%} of the held-out words never occur in the twin's trained lines: each is "
        f"spelled out letter by letter, which is most of the Markov figure; scoring an unseen "
        f"word as a bare <unk> instead gives {pm_unk:.1f} per word.)",
        flush=True,
    )

    t0 = time.monotonic()
    print("\ngenerating a line per window: LoRA...", flush=True)
    made_lora = generate_lines(model, tokenizer, prompts, seed=SEED)
    print(f"  {time.monotonic() - t0:.0f} s; base model...", flush=True)
    with model.disable_adapter():
        made_base = generate_lines(model, tokenizer, prompts, seed=SEED)
    made_markov = markov_lines(own_train, [e.window for e in chosen], twin_login, seed=SEED)
    gen_s = time.monotonic() - t0
    print(f"  {gen_s:.0f} s with the Markov twin's", flush=True)

    real = [e.text for e in chosen]
    trained = {normal(m.text) for m in earlier if m.text.strip()}
    own = {normal(t) for t in own_train}
    rng = random.Random(SEED)
    reference = rng.sample(own_train, min(len(real), len(own_train)))
    sources = {
        "real": real,
        "lora": made_lora,
        "base": made_base,
        "markov": made_markov,
    }
    aucs = {name: classifier_auc(real, lines) for name, lines in sources.items() if name != "real"}
    auc_real = classifier_auc(real, reference) if len(reference) >= FOLDS else float("nan")
    figures = {name: style(lines, trained, own) for name, lines in sources.items()}
    print(
        f"\nstyle of the held-out lines and of what each twin writes for the same windows "
        f"(models at temperature {TEMPERATURE}, up to {MAX_NEW_TOKENS} tokens, first line)"
    )
    print(
        f"{'lines':<8}{'n':>5}{'words':>8}{'emotes':>8}{'caps':>7}{'copied':>8}"
        f"{'own':>7}{'empty':>7}{'AUC ± s.e.':>12}"
    )
    for name, s in figures.items():
        se = auc_se(aucs[name], len(real), s.lines) if name != "real" else 0.0
        shown = "" if name == "real" else f"{aucs[name]:.2f} ±{se:.2f}"
        print(
            f"{name:<8}{s.lines:>5}{s.mean_words:>8.1f}{s.emote_share:>8.1%}"
            f"{s.capitals_share:>7.1%}{s.copied:>8.1%}{s.copied_own:>7.1%}{s.empty:>7.1%}"
            f"{shown:>12}"
        )
    print(
        f"(words: mean per line; emotes: share of words (is_emote); caps: upper-case share of "
        f"letters; copied: lines equal to a line of the trained part, anyone's; own: to one of "
        f"the twin's; AUC: a character {NGRAMS[0]}-{NGRAMS[1]}-gram naive Bayes, {FOLDS}-fold, "
        f"telling that twin's lines from the real ones. The real held-out lines against "
        f"{len(reference)} of the twin's own trained lines: AUC {auc_real:.2f}, what two "
        f"samples of one person give; an AUC near or below that is a twin it cannot tell from "
        f"the streamer. With nothing to find, a cross-validated AUC runs below 0.5: a held-out "
        f"line's n-grams are missing from its own class's training folds. s.e.: Hanley and "
        f"McNeil's standard error.)"
    )
    print("\na few windows: the real line, then what each twin wrote")
    for i in spread(range(len(chosen)), 4):
        print(f"  real   {_short(real[i])!r}")
        for name in ("lora", "base", "markov"):
            print(f"  {name:<6} {_short(sources[name][i])!r}")
        print()

    total = time.monotonic() - started
    cpu = time.process_time()
    print(
        f"timings: NLL {nll_s:.0f} s (both models), generation {gen_s:.0f} s, "
        f"whole bench {total:.0f} s wall, {cpu:.0f} s CPU (load {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores)" + (f", LoRA training {train_s:.0f} s" if train_s else "")
    )
    line = {
        "ppl_base": f"{pb:.1f}",
        "ppl_lora": f"{pl:.1f}",
        "ppl_markov": f"{pm:.1f}",
        "auc_lora": f"{aucs['lora']:.2f}",
        "auc_base": f"{aucs['base']:.2f}",
        "auc_markov": f"{aucs['markov']:.2f}",
        "lines": str(len(chosen)),
        "copied_markov": f"{figures['markov'].copied:.2f}",
        "copied_lora": f"{figures['lora'].copied:.2f}",
        "better_lora": f"{better}/{len(chosen)}",
    }
    if train_s:
        line["train_s"] = f"{train_s:.0f}"
    line |= {
        "ppl_markov_unk": f"{pm_unk:.1f}",
        "oov_markov": f"{oov:.2f}",
        "bpc_base": f"{bpc['base']:.2f}",
        "bpc_lora": f"{bpc['lora']:.2f}",
        "bpc_markov": f"{bpc['markov']:.2f}",
        "auc_real": f"{auc_real:.2f}",
        "copied_real": f"{figures['real'].copied:.2f}",
        "copied_base": f"{figures['base'].copied:.2f}",
        "seconds": f"{total:.0f}",
        "cpu_s": f"{cpu:.0f}",
    }
    print(" ".join(f"{k}={v}" for k, v in line.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
