"""The builder on the shared real chat logs."""

from __future__ import annotations

from pathlib import Path

from cohost.app.build import dataset_options
from cohost.app.settings import Settings
from cohost.chatlog import open_log
from cohost.core.events import ChatMessage, Moderation, Role
from cohost.dataset.build import DatasetBuilder


def _builder(logins: list[str], name: str, rules: set[str] | None = None) -> DatasetBuilder:
    settings = Settings()
    options = dataset_options(settings, logins=logins, name=name)
    if rules is not None:
        options = dataset_options(settings, logins=logins, name=name, rules=rules)
    return DatasetBuilder(options)


def test_the_broadcaster_of_a_tcd_log_as_the_twin(shared_data: Path) -> None:
    path = shared_data / "twitch" / "tcd_text" / "DKDiamantes_0650637968.txt"
    broadcaster = {
        e.login
        for e in open_log(path)
        if isinstance(e, ChatMessage) and Role.BROADCASTER in e.roles
    }
    assert broadcaster == {"dkdiamantes"}  # the one line with the ~ badge
    builder = _builder(["dkdiamantes"], "DKDiamantes")
    examples = list(builder.from_log(open_log(path)))
    assert len(examples) == 1
    lines = examples[0].splitlines()
    assert lines[-1] == "DKDiamantes: SHUT UP PAT"
    assert len(lines) == 2 + Settings().dataset.window


def test_every_example_ends_on_the_twins_line(shared_data: Path) -> None:
    path = shared_data / "twitch" / "tcd_text" / "AdumPlaze_0774609027.txt"
    chatter = "imaginaryfanboy"  # the most talkative chatter of this log
    builder = _builder([chatter], "Twin")
    examples = list(builder.from_log(open_log(path)))
    assert len(examples) > 20
    assert len(examples) == builder.report.examples
    for text in examples:
        assert text.endswith("\n")
        assert text.splitlines()[-1].startswith("Twin: ")


def test_real_counts_add_up_and_every_rule_acts(shared_data: Path) -> None:
    twitch = shared_data / "twitch"
    builder = _builder(["imaginaryfanboy"], "Twin")
    for path in [
        twitch / "tcd_text" / "AdumPlaze_0774609027.txt",
        twitch / "tcd_text" / "DKDiamantes_0650637968.txt",
        twitch / "irc_raw" / "nymn_recentmessages.irc",
        twitch / "rechat_json" / "rechat-158202424.json",
    ]:
        for _ in builder.from_log(open_log(path)):
            pass
    report = builder.report
    removed = report.tally.removed
    assert report.lines_kept + sum(removed.values()) == report.messages
    for rule in ("bots", "commands", "moderated", "context", "short", "duplicates"):
        assert removed[rule] > 0, rule


def test_timeouts_in_a_real_log_remove_the_users_earlier_lines(shared_data: Path) -> None:
    path = shared_data / "twitch" / "irc_raw" / "nymn_recentmessages.irc"
    hold = Settings().dataset.moderation_hold_s
    events = list(open_log(path))  # 800 lines: small enough to hold for the oracle
    expected = set()
    for i, event in enumerate(events):
        if isinstance(event, Moderation) and event.kind in ("timeout", "ban"):
            for earlier in events[:i]:
                if (
                    isinstance(earlier, ChatMessage)
                    and earlier.login == event.target_login
                    and earlier.ts >= event.ts - hold
                ):
                    expected.add(earlier.id)
    assert expected
    builder = _builder(["nobody"], "Twin", rules={"moderated"})
    list(builder.from_log(events))
    assert builder.report.tally.removed["moderated"] == len(expected)
    assert builder.report.lines_kept == builder.report.messages - len(expected)


def test_bots_and_commands_in_a_real_log(shared_data: Path) -> None:
    path = shared_data / "twitch" / "tcd_text" / "DKDiamantes_0650637968.txt"
    messages = [e for e in open_log(path) if isinstance(e, ChatMessage)]
    bots = set(Settings().picker.known_bots)
    builder = _builder(["nobody"], "Twin", rules={"bots", "commands"})
    list(builder.from_log(messages))
    removed = builder.report.tally.removed
    assert removed["bots"] == sum(m.login in bots for m in messages) > 0
    commands = sum(m.login not in bots and m.text.strip().startswith("!") for m in messages)
    assert removed["commands"] == commands > 0


def test_a_moderators_timed_advert_in_a_real_log_is_left_out(shared_data: Path) -> None:
    path = shared_data / "twitch" / "tcd_text" / "DKDiamantes_0650637968.txt"
    posts = sum(
        isinstance(e, ChatMessage) and e.text.startswith("Join our Discord Channel")
        for e in open_log(path)
    )
    assert posts == 33  # every twelve minutes, from a moderator's account
    builder = _builder(["miabyte"], "Twin")
    examples = list(builder.from_log(open_log(path)))
    assert examples
    assert not any("Join our Discord Channel" in text for text in examples)
    removed = builder.report.tally
    assert (
        removed.removed["botlike"]
        == removed.detail["botlike.advert"] + removed.detail["botlike.repeat"]
    )
    assert removed.removed["botlike"] + removed.removed["duplicates"] >= posts
