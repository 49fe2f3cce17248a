"""The chat-log builder on small logs that hit each cleaning rule a known number of times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cohost.app.build import dataset_options
from cohost.app.settings import Settings
from cohost.chatlog import open_log
from cohost.core.events import ChatEvent, ChatMessage
from cohost.dataset.build import BuildOptions, DatasetBuilder
from cohost.dataset.clean import RULES
from cohost.text.render import render_example
from tests.support.rule_log import RULE_COUNTS, T0, clearmsg, privmsg, timeout


def _build(path: Path, **options: object) -> tuple[list[str], DatasetBuilder]:
    settings = Settings()
    base = dataset_options(settings, logins=["moss"], name="Moss")
    fields = {name: getattr(base, name) for name in BuildOptions.__slots__}
    fields.update(options)
    builder = DatasetBuilder(BuildOptions(**fields))
    return list(builder.from_log(open_log(path), source=str(path))), builder


def _msg(i: int, login: str, text: str) -> ChatMessage:
    return ChatMessage(
        id=f"m{i}", channel="chan", login=login, display_name=login, text=text, ts=T0 + i
    )


def test_every_rule_counts_exactly_what_it_removed(rule_log: Path) -> None:
    examples, builder = _build(rule_log)
    report = builder.report
    assert {rule: report.tally.removed[rule] for rule in RULE_COUNTS} == RULE_COUNTS
    assert report.tally.changed["personal"] == 2
    assert report.tally.detail["personal.email"] == 1
    assert report.tally.detail["personal.phone"] == 1
    assert report.tally.detail["context.attachment"] == 1
    assert report.tally.detail["context.link"] == 1
    assert report.tally.detail["context.reference"] == 1
    assert report.tally.detail["moderated.delete"] == 1
    assert report.tally.detail["moderated.timeout"] == 2
    assert report.messages == 16
    assert report.lines_kept + sum(report.tally.removed.values()) == report.messages
    assert report.examples == len(examples) == 2


def test_examples_are_the_renderers_windows_ending_on_the_twin(rule_log: Path) -> None:
    examples, _ = _build(rule_log)
    first = [
        _msg(1, "alice", "hello everyone"),
        _msg(11, "henry", "mail me at <email>"),
        _msg(13, "moss", "call me at <phone> ok"),
    ]
    assert examples[0] == render_example(first, "Moss", twin_logins=["moss"])
    assert examples[1].endswith(
        "alice: what game is this moss\nMoss: it is the one with the boats\n"
    )
    for text in examples:
        assert text.splitlines()[-1].startswith("Moss: ")
        assert "rude" not in text
        assert "dave" not in text


@pytest.mark.parametrize("rule", sorted(RULE_COUNTS))
def test_a_rule_switched_off_keeps_what_it_removed(rule_log: Path, rule: str) -> None:
    _, on = _build(rule_log)
    _, off = _build(rule_log, rules=frozenset(RULES) - {rule})
    assert off.report.tally.removed[rule] == 0
    assert off.report.lines_kept == on.report.lines_kept + RULE_COUNTS[rule]


def test_personal_data_switched_off_stays_in_the_text(rule_log: Path) -> None:
    examples, builder = _build(rule_log, rules=frozenset(RULES) - {"personal"})
    assert builder.report.tally.changed["personal"] == 0
    assert "henry@example.com" in examples[0]
    assert "555-123-4567" in examples[0]


def test_window_size_and_context(tmp_path: Path) -> None:
    lines = [privmsg(i, f"viewer{i}", f"line number {i}") for i in range(1, 6)]
    lines += [privmsg(6, "moss", "answer one"), privmsg(7, "moss", "answer two")]
    path = tmp_path / "w.irc"
    path.write_text("\n".join(lines) + "\n")
    examples, _ = _build(path, window=3)
    assert [len(e.splitlines()) for e in examples] == [2 + 3, 2 + 3]
    assert examples[1].endswith("viewer5: line number 5\nMoss: answer one\nMoss: answer two\n")
    alone = tmp_path / "alone.irc"
    alone.write_text(privmsg(1, "moss", "first words of the stream") + "\n")
    none, builder = _build(alone)
    assert none == []
    assert builder.report.without_context == 1


def test_a_long_silence_starts_a_fresh_window(tmp_path: Path) -> None:
    path = tmp_path / "gap.irc"
    lines = [privmsg(1, "alice", "before the break"), privmsg(5000, "bob", "after the break")]
    path.write_text("\n".join([*lines, privmsg(5001, "moss", "welcome back")]) + "\n")
    examples, _ = _build(path, max_gap_s=900.0)
    assert "before the break" not in examples[0]
    assert "after the break" in examples[0]


def test_moderation_look_ahead_is_bounded(tmp_path: Path) -> None:
    lines = [
        privmsg(1, "carol", "deleted too late", msg_id="late"),
        privmsg(2, "dave", "timed out too late"),
        privmsg(3, "erin", "a third line"),
        privmsg(700, "frank", "much later"),
        clearmsg(701, "carol", "late", "deleted too late"),
        timeout(702, "dave"),
        privmsg(703, "moss", "still here"),
    ]
    path = tmp_path / "late.irc"
    path.write_text("\n".join(lines) + "\n")
    _, by_time = _build(path, moderation_hold_s=600.0, max_gap_s=10_000.0)
    assert by_time.report.tally.removed["moderated"] == 0
    _, in_time = _build(path, moderation_hold_s=800.0, max_gap_s=10_000.0)
    assert in_time.report.tally.removed["moderated"] == 2
    _, by_count = _build(path, moderation_hold_s=800.0, moderation_hold_lines=2)
    assert by_count.report.tally.removed["moderated"] == 0


def test_repeated_examples_are_written_once(tmp_path: Path) -> None:
    lines = [
        privmsg(1, "alice", "are you there"),
        privmsg(2, "moss", "sure thing"),
        privmsg(3, "bob", "something else"),
        privmsg(4, "moss", "sure thing"),
    ]
    path = tmp_path / "rep.irc"
    path.write_text("\n".join(lines) + "\n")
    examples, builder = _build(path, window=1, min_context=0, duplicate_lookback=1)
    assert examples == [render_example([_msg(2, "moss", "sure thing")], "Moss")]
    assert builder.report.duplicate_examples == 1


def test_writings_become_runs_of_the_twins_lines(tmp_path: Path) -> None:
    builder = DatasetBuilder(dataset_options(Settings(), logins=["moss"], name="Moss", window=2))
    lines = ["I built a kit today.", "It took hours.", "Look at this!", "Paint comes next."]
    examples = list(builder.from_writing(lines, source="notes.md"))
    assert examples == [
        render_example(
            [_msg(0, "moss", "I built a kit today."), _msg(1, "moss", "It took hours.")], "Moss"
        ),
        render_example([_msg(3, "moss", "Paint comes next.")], "Moss"),
    ]
    assert builder.report.tally.removed["context"] == 1


def test_a_log_is_streamed_not_loaded(tmp_path: Path) -> None:
    def endless() -> Iterator[ChatEvent]:
        i = 0
        while True:
            i += 1
            yield _msg(i, "moss" if i % 10 == 0 else f"viewer{i % 7}", f"line {i}")

    builder = DatasetBuilder(dataset_options(Settings(), logins=["moss"], name="Moss"))
    examples = builder.from_log(endless())
    first = next(examples)  # an endless log still gives examples, once they are past the hold
    assert first.endswith("Moss: line 10\n")
    assert builder.report.messages <= 10 + Settings().dataset.moderation_hold_s + 1


def test_the_co_host_bots_own_lines_never_become_training_data(tmp_path: Path) -> None:
    # once the twin has co-hosted, logs hold its bot's replies: the model's output, not the
    # streamer's voice, so they are left out like any bot's
    lines = [
        privmsg(1, "viewer1", "what are we playing tonight"),
        privmsg(2, "mosstwin", "the long route of the cursed map, as always"),
        privmsg(3, "viewer2", "nice, good luck"),
        privmsg(4, "moss", "thanks chat, here we go"),
    ]
    path = tmp_path / "b.irc"
    path.write_text("\n".join(lines) + "\n")
    settings = Settings(twin={"bot_login": "MossTwin"})  # type: ignore[arg-type]
    options = dataset_options(settings, logins=["moss"], name="Moss")
    assert "mosstwin" in options.bots
    [example] = DatasetBuilder(options).from_log(open_log(path), source=str(path))
    assert "cursed map" not in example
    assert example.endswith("viewer2: nice, good luck\nMoss: thanks chat, here we go\n")
    # a bot that posts as the streamer's own account: those lines are the streamer's
    same = Settings(twin={"bot_login": "moss"})  # type: ignore[arg-type]
    assert "moss" not in dataset_options(same, logins=["moss"], name="Moss").bots


def test_bot_like_lines_are_left_out_of_context(tmp_path: Path) -> None:
    advert = "Join our Discord Channel over at http://discord.gg/moss and read the rules"
    timer = "Remember to hydrate and stretch, the stream goes on for hours"
    # a music bot cohost does not know by name: its line is told by its text
    lines = [privmsg(1, "moss_tunes", "Now Playing: Sandstorm by Darude")]
    for minute in range(4):  # a moderator's timer, every five minutes, as chat moves on
        at = 2 + minute * 300
        lines.append(privmsg(at, "mod", advert if minute % 2 else timer))
        lines += [privmsg(at + i, f"viewer{i}", f"chat line {minute} {i}") for i in range(1, 7)]
        lines.append(privmsg(at + 7, "moss", f"answer number {minute}"))
    path = tmp_path / "botlike.irc"
    path.write_text("\n".join(lines) + "\n")
    examples, builder = _build(path, duplicate_lookback=5, max_gap_s=10_000.0)
    assert len(examples) == 4
    assert not any("Sandstorm" in e or "Discord" in e for e in examples)
    assert sum("hydrate" in e for e in examples) == 1  # the timer's first post is chat
    assert builder.report.tally.removed["botlike"] == 4
    assert builder.report.tally.detail["botlike.music"] == 1
    assert builder.report.tally.detail["botlike.advert"] == 2
    assert builder.report.tally.detail["botlike.repeat"] == 1
    assert builder.report.as_dict()["rules"]["botlike"] == {"removed": 4, "changed": 0}
    assert "botlike" in builder.report.table()
    off, _ = _build(path, duplicate_lookback=5, rules=frozenset(RULES) - {"botlike"})
    assert any("Sandstorm" in e for e in off)
