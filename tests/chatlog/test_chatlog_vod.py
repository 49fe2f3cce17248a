"""rechat and TwitchDownloader JSON, the incremental JSON walk, and lazy reading."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohost.chatlog import open_log
from cohost.chatlog.jsonstream import JsonShapeError, JsonStream
from cohost.chatlog.log import SORT_WINDOW_NARROW
from cohost.core.errors import ChatLogError
from cohost.core.events import ChatMessage, Role

DATA = Path(__file__).parent / "data"


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def comment(number: int, *, name: str = "dixego", **message: object) -> dict[str, object]:
    return {
        "_id": f"id-{number}",
        "created_at": "2017-07-10T22:05:27.582Z",
        "content_offset_seconds": 0.082 + number,
        "commenter": {"display_name": name.title(), "_id": "44329536", "name": name},
        "source": "chat",
        "message": {"body": f"message {number}", "is_action": False, **message},
    }


VIDEO = {
    "_id": "v158202424",
    "recorded_at": "2017-07-10T22:05:18Z",
    "channel": {"name": "northernlion", "display_name": "Northernlion"},
}


def test_twitchdownloader_fixture() -> None:
    log = open_log(DATA / "twitchdownloader_sample.json")
    assert log.format == "twitchdownloader"
    events = list(log)
    messages = [e for e in events if isinstance(e, ChatMessage)]
    assert [m.id for m in messages] == ["c-1", "c-2", "c-3", "c-5"]
    assert {m.channel for m in messages} == {"pajlada"}
    first, emotes, cheer, late = messages
    assert (first.login, first.display_name, first.user_id) == ("nerixyz", "Nerixyz", "129546453")
    assert first.ts == epoch("2024-03-01T20:00:05.250")
    assert first.roles == frozenset({Role.SUBSCRIBER, Role.VIP})
    assert first.badges == (("subscriber", "24"), ("vip", "1"))
    assert first.emote_only is False
    assert emotes.emote_only is True
    assert cheer.bits == 100
    assert cheer.role is Role.BROADCASTER
    # No created_at: the video's start plus the offset.
    assert late.ts == epoch("2024-03-01T20:00:00") + 130.5
    assert late.text == '[brackets] and {braces} inside a "string"'
    assert log.stats.skipped == 1
    assert log.stats.first_reasons == [
        f"{DATA / 'twitchdownloader_sample.json'}:15: comment 4: commenter has no name"
    ]
    with pytest.raises(ChatLogError, match=r":15: comment 4: commenter has no name"):
        list(open_log(DATA / "twitchdownloader_sample.json", strict=True))


def test_rechat_video_then_comments(tmp_path: Path) -> None:
    path = tmp_path / "rechat-158202424.json"
    fragments = [{"text": "Kreygasm", "emoticon": {"emoticon_id": "41"}}, {"text": " "}]
    items = [
        VIDEO,
        comment(1, user_badges=[{"_id": "subscriber", "version": "0"}]),
        comment(2, fragments=fragments, is_action=True),
        {"_id": "broken", "message": {"body": "no commenter"}},
        comment(3, name="Trialbyrespawn", fragments=[{"text": "BEAUTIFUL"}]),
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    log = open_log(path)
    assert log.format == "rechat"
    messages = [e for e in log if isinstance(e, ChatMessage)]
    assert [m.text for m in messages] == ["message 1", "message 2", "message 3"]
    assert {m.channel for m in messages} == {"northernlion"}
    assert messages[0].ts == epoch("2017-07-10T22:05:27.582")
    assert messages[0].roles == frozenset({Role.SUBSCRIBER})
    assert messages[1].emote_only is True
    assert messages[1].action is True
    assert messages[2].emote_only is False
    assert messages[2].login == "trialbyrespawn"
    assert log.stats.lines == 5
    assert log.stats.skipped == 1
    assert "comment 4: commenter is not an object" in log.stats.first_reasons[0]


def test_rechat_offsets_without_created_at(tmp_path: Path) -> None:
    item = comment(1)
    del item["created_at"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps([VIDEO, item]), encoding="utf-8")
    [message] = list(open_log(path, format="rechat"))
    assert message.ts == pytest.approx(epoch("2017-07-10T22:05:18") + 1.082)


def test_truncated_json_is_an_error_even_when_not_strict(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    text = json.dumps([VIDEO, comment(1), comment(2)])
    path.write_text(text[: len(text) - 40], encoding="utf-8")
    log = open_log(path, format="rechat")
    events = iter(log)
    # events are read through a time-order window, so the error comes before the first event
    with pytest.raises(ChatLogError, match="invalid JSON"):
        next(events)


def test_twitchdownloader_needs_comments(tmp_path: Path) -> None:
    path = tmp_path / "td.json"
    path.write_text('{"streamer": {"name": "x"}, "video": {}}', encoding="utf-8")
    with pytest.raises(ChatLogError, match='no "comments" list'):
        list(open_log(path, format="twitchdownloader"))


def test_rechat_must_be_a_list(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"comments": []}', encoding="utf-8")
    with pytest.raises(ChatLogError, match="must be a list"):
        list(open_log(path, format="rechat"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(json_values, max_size=6),
    chunk=st.integers(min_value=1, max_value=40),
    indent=st.sampled_from([None, 0, 2]),
)
def test_items_of_any_array_match_json_loads(
    items: list[object], chunk: int, indent: int | None
) -> None:
    text = json.dumps({"before": [1, {"x": "]"}], "comments": items, "after": 1.5}, indent=indent)
    stream = JsonStream(io.StringIO(text), chunk=chunk)
    seen: dict[str, object] = {}
    for key in stream.members():
        if key == "comments":
            seen[key] = [value for _, _, value in stream.items()]
        else:
            seen[key] = stream.value()
    assert seen == json.loads(text)


def test_numbers_at_a_chunk_edge_are_read_whole() -> None:
    stream = JsonStream(io.StringIO("[12345, 678]"), chunk=3)
    assert [value for _, _, value in stream.items()] == [12345, 678]


def test_item_lines_are_counted() -> None:
    stream = JsonStream(io.StringIO('[\n{"a": 1},\n\n{"b": "x\\ny"}\n]'), chunk=4)
    assert [(index, line) for index, line, _ in stream.items()] == [(1, 2), (2, 4)]


@pytest.mark.parametrize("chunk", range(1, 41))
@pytest.mark.parametrize("breaks", ["", " ", "\n", " \n ", "\r\n", "  \n\n"])
def test_item_lines_follow_the_line_breaks_across_chunks(breaks: str, chunk: int) -> None:
    # Compact stretches and broken ones, items with line breaks inside, chunks cutting anywhere:
    # each item's line is the line it starts on.
    items = ['{"a":\n[1,\n 2]}', '"x"', "12.5", "[\n]", '{"b": "c\\nd"}', "7", "{}"]
    gaps = [breaks, "", " ", breaks, "\n", "", breaks, breaks]
    text = "[" + ",".join(f"{gap}{item}" for gap, item in zip(gaps, items, strict=False)) + "]"
    position = 0
    expected = []
    for index, item in enumerate(items, 1):
        position = text.index(item, position)
        expected.append((index, text.count("\n", 0, position) + 1))
        position += len(item)
    stream = JsonStream(io.StringIO(text), chunk=chunk)
    assert [(index, line) for index, line, _ in stream.items()] == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[1 2]", "expected ',' or ']' after item 1"),
        ("[1,", "the JSON ends early"),
        ('{"a" 1}', "expected ':'"),
        ("[1, }", "invalid JSON"),
    ],
)
def test_json_shape_errors(text: str, error: str) -> None:
    stream = JsonStream(io.StringIO(text), chunk=2)
    with pytest.raises(JsonShapeError, match=error):
        if text.startswith("{"):
            for _ in stream.members():
                stream.value()
        else:
            list(stream.items())


def test_reading_is_lazy_for_lines(tmp_path: Path) -> None:
    path = tmp_path / "big.irc"
    line = "@id={};tmi-sent-ts=1000 :a!a@a.tmi.twitch.tv PRIVMSG #c :" + "x" * 200 + "\n"
    with path.open("w", encoding="utf-8") as f:
        f.writelines(line.format(i) for i in range(40_000))
    size = path.stat().st_size
    log = open_log(path)
    events = iter(log)
    first = next(events)
    assert first.id == "0"  # type: ignore[union-attr]
    assert log.stats.lines <= SORT_WINDOW_NARROW + 1  # the time-order window's look-ahead
    assert 0 < log.bytes_read < size // 50
    del events


def test_reading_is_lazy_for_json(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as f:
        f.write("[" + json.dumps(VIDEO))
        for number in range(20_000):
            f.write(", " + json.dumps(comment(number)))
        f.write("]")
    size = path.stat().st_size
    log = open_log(path)
    events = iter(log)
    first = next(events)
    assert isinstance(first, ChatMessage)
    assert first.text == "message 0"
    assert 0 < log.bytes_read < size // 50


def test_gzip_logs_are_read_transparently(tmp_path: Path) -> None:
    path = tmp_path / "chat.irc.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("@tmi-sent-ts=1000 :a!a@a PRIVMSG #c :zipped\n")
    log = open_log(path)
    assert log.format == "irc"
    assert [e.text for e in log if isinstance(e, ChatMessage)] == ["zipped"]
