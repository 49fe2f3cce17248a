"""Fuzzing small parsers of outside input: console lines, `!twin`, MQTT control, settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from cohost.adapters.mqtt import control_text, parse_control
from cohost.app.settings import CONFIG_FILE_ENV, ENV_PREFIX, Settings, load_settings
from cohost.control.controller import MAX_RATE, USAGE, parse_command
from cohost.core.errors import SettingsError
from cohost.core.events import Role
from cohost.embedded.console import parse_console_line
from tests.fuzz import fuzz

WHITESPACE = " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u3000"
chat_text = st.lists(
    st.one_of(
        st.sampled_from(["!twin", "!TWIN", "!twinkle", "@", "~", "%", "!", ": ", ":", "rate"]),
        st.sampled_from([*USAGE, "on", "off", "default", "61", "007", "٣", "@Nick_1"]),
        st.sampled_from(list(WHITESPACE)),
        st.text(max_size=8),
    ),
    max_size=10,
).map("".join)


@fuzz(200)
@given(line=chat_text)
def test_console_lines(line: str) -> None:
    message = parse_console_line(line, ts=1.0, number=3, channel="console")
    if not line.strip():
        assert message is None
        return
    assert message is not None
    assert message.text == message.text.strip()
    assert message.login == message.login.casefold() and message.login
    assert " " not in message.display_name
    assert message.roles <= {Role.BROADCASTER, Role.MODERATOR, Role.VIP, Role.SUBSCRIBER}
    assert len(message.roles) <= 1


@fuzz(250)
@given(text=chat_text, prefix=st.sampled_from(["!twin", "!co", "?"]))
def test_twin_commands(text: str, prefix: str) -> None:
    parsed = parse_command(text, prefix)
    stripped = text.strip()
    is_command = stripped[: len(prefix)].lower() == prefix.lower() and (
        len(stripped) == len(prefix) or stripped[len(prefix)].isspace()
    )
    if not is_command:
        assert parsed is None
        return
    assert parsed is not None
    assert parsed.usage.startswith(f"usage: {prefix} ")
    if parsed.error is not None:
        return
    assert parsed.name in USAGE
    assert "\n" not in parsed.args and parsed.args == " ".join(parsed.args.split())
    if parsed.name == "rate" and parsed.args != "default":
        assert parsed.args.isdigit() and 0 <= int(parsed.args) <= MAX_RATE
    if parsed.name in ("voice", "chat"):
        assert parsed.args in ("on", "off")
    if parsed.name in ("ignore", "unignore"):
        assert parsed.args.isascii() and 1 <= len(parsed.args) <= 25


json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
control_payloads = st.one_of(
    st.binary(max_size=80),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {}, optional={"command": json_value, "args": json_value, "client": json_value}
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"command": chat_text, "client": st.text(max_size=8)}, optional={"args": chat_text}
    ).map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)


@fuzz(200)
@given(payload=control_payloads)
def test_mqtt_control_payloads(payload: bytes) -> None:
    message = parse_control(payload)
    if message is None:
        return
    assert isinstance(message.command, str) and isinstance(message.client, str)
    text = control_text(message)
    assert text.startswith("!twin")
    parsed = parse_command(text)
    assert parsed is not None  # whatever the payload says, it reaches the parser as a command


def _env_names(model: type[BaseModel], prefix: str) -> list[str]:
    names: list[str] = []
    for name, info in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        names.append(env)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _env_names(annotation, f"{env}__")
    return names


ENV_NAMES = sorted(_env_names(Settings, ENV_PREFIX))
env_value = st.one_of(
    st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",))),
    json_value.map(json.dumps),
    st.sampled_from(["", "[", "{", "nan", "-1", "1e999", "true", "[1,", '{"name": 3}', "a,b"]),
)


@fuzz(150)
@given(env=st.dictionaries(st.sampled_from(ENV_NAMES), env_value, max_size=4))
def test_settings_from_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    """Any environment gives Settings or a SettingsError, never a library's own exception."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)  # no .env of the working tree
        mp.setenv(CONFIG_FILE_ENV, "")  # recorded, so load_settings' own setting is undone
        mp.delenv(CONFIG_FILE_ENV)
        for name in ENV_NAMES:
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        try:
            load_settings()
        except SettingsError as exc:
            assert str(exc)


overrides = st.dictionaries(
    st.sampled_from(sorted(Settings.model_fields)),
    st.one_of(
        json_value,
        st.dictionaries(st.sampled_from(["name", "min_gap_s", "blocklist", "port"]), json_value),
    ),
    max_size=3,
)
toml_text = st.lists(
    st.one_of(
        st.sampled_from(["[twin]\n", "name = ", '"x"', "[", "]", "=", "\n", "1e999", "[[a]]\n"]),
        st.text(max_size=8),
    ),
    max_size=10,
).map("".join)


@fuzz(150)
@given(kwargs=overrides, toml=st.one_of(st.none(), toml_text))
def test_settings_overrides_and_toml(
    kwargs: dict[str, Any], toml: str | None, tmp_path: Path
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setenv(CONFIG_FILE_ENV, "")  # recorded, so load_settings' own setting is undone
        mp.delenv(CONFIG_FILE_ENV)
        config = None
        if toml is not None:
            config = tmp_path / "cohost.toml"
            config.write_text(toml, encoding="utf-8", errors="surrogatepass")
        try:
            load_settings(config, **kwargs)
        except SettingsError as exc:
            assert str(exc)


def test_unparsable_json_in_a_nested_env_var_is_a_settings_error(tmp_path: Path) -> None:
    """Found by fuzzing: pydantic-settings' own SettingsError escaped load_settings."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setenv(CONFIG_FILE_ENV, "")
        mp.delenv(CONFIG_FILE_ENV)
        mp.setenv("COHOST_TWIN__ALIASES", "[not json")
        with pytest.raises(SettingsError, match="twin"):
            load_settings()


def test_a_broken_toml_file_is_a_settings_error(tmp_path: Path) -> None:
    """Found by fuzzing: tomllib's TOMLDecodeError escaped load_settings."""
    config = tmp_path / "cohost.toml"
    config.write_text("[twin\nname = ", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setenv(CONFIG_FILE_ENV, "")
        mp.delenv(CONFIG_FILE_ENV)
        with pytest.raises(SettingsError, match=r"cohost\.toml"):
            load_settings(config)
