"""Settings: environment (COHOST_, __ nesting), .env, a TOML file; nothing else reads os.environ."""

from __future__ import annotations

import difflib
import functools
import json
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError  # a value a source cannot parse

from cohost.core.errors import SettingsError
from cohost.core.options import (
    BusSettings,
    ChatSinkSettings,
    ControlSettings,
    DatasetSettings,
    DeskSettings,
    GuardSettings,
    JournalSettings,
    ListenSettings,
    PickerSettings,
    ReactionsSettings,
    RegularsSettings,
    ReplaySettings,
    RewriterSettings,
    SimulatorSettings,
    SpeechSettings,
    TurnSettings,
    TwinSettings,
    TwitchSettings,
    WebSettings,
)

ENV_PREFIX = "COHOST_"
CONFIG_FILE_ENV = "COHOST_CONFIG_FILE"


class Settings(BaseSettings):
    """Everything cohost can be told; see .env.example."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("cohost")),
        description="everything the daemon writes lives under here",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    twin: TwinSettings = Field(default_factory=TwinSettings)
    picker: PickerSettings = Field(default_factory=PickerSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    rewriter: RewriterSettings = Field(default_factory=RewriterSettings)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    replay: ReplaySettings = Field(default_factory=ReplaySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    sink: ChatSinkSettings = Field(default_factory=ChatSinkSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    twitch: TwitchSettings = Field(default_factory=TwitchSettings)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    reactions: ReactionsSettings = Field(default_factory=ReactionsSettings)
    listen: ListenSettings = Field(default_factory=ListenSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)
    regulars: RegularsSettings = Field(default_factory=RegularsSettings)

    @model_validator(mode="after")
    def _one_streamer(self) -> Settings:
        """COHOST_TWIN__STREAMER and COHOST_TWITCH__CHANNEL name one account, the streamer's:
        the streamer is the setting, and the channel follows it (either one alone sets both,
        as before). Both set to different logins is an error naming both."""
        streamer, channel = login_of(self.twin.streamer), login_of(self.twitch.channel)
        if streamer and channel and streamer != channel:
            raise SettingsError(
                f"COHOST_TWIN__STREAMER ({self.twin.streamer!r}) and COHOST_TWITCH__CHANNEL "
                f"({self.twitch.channel!r}) name different accounts, but they are one setting: "
                "the streamer's login is the channel the twin chats in. Set "
                "COHOST_TWIN__STREAMER only (in a TOML file, [twin] streamer), or both alike"
            )
        login = streamer or channel
        if login and not (streamer and channel):
            self.twin = self.twin.model_copy(update={"streamer": login})
            self.twitch = self.twitch.model_copy(update={"channel": login})
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier wins: arguments, then the environment, then .env, then the TOML file.
        toml_path = os.environ.get(CONFIG_FILE_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


def _mask(value: Any, secret: bool) -> str:
    if secret:
        return "'**********'"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_error(
    exc: ValidationError, where: Callable[[tuple[str, ...]], str] | None = None
) -> str:
    """One line per bad field: where it was set (`where`, else its env name), value, problem."""
    paths, _ = _paths(Settings)
    secrets = {path for path, annotation in paths.items() if "SecretStr" in repr(annotation)}
    lines = []
    for err in exc.errors():
        path = tuple(str(p) for p in err["loc"])
        name = where(path) if where is not None else _env_name(path)
        secret = any(path[: len(s)] == s for s in secrets)
        value = _mask(err.get("input"), secret)
        lines.append(f"invalid setting {name} (value {value}): {err['msg']}")
    return "\n".join(lines)


def login_of(name: str) -> str:
    """A Twitch login as settings may write it ("@MossBot", "#mossbot"): "mossbot"."""
    return name.strip().lstrip("@#").lower()


def streamer_logins(settings: Settings) -> set[str]:
    """The streamer's account as the settings name it (the channel, the twin's streamer)."""
    names = (settings.twitch.channel, settings.twin.streamer)
    return {login_of(name) for name in names if name.strip()}


def with_bot_login(settings: Settings, login: str) -> Settings:
    """The settings with the twin's bot account set to `login`."""
    twin = settings.twin.model_copy(update={"bot_login": login})
    return settings.model_copy(update={"twin": twin})


@functools.cache
def _paths(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> tuple[dict[tuple[str, ...], Any], frozenset[tuple[str, ...]]]:
    """Every setting's path with its type, and the paths of tables that take any key."""
    found: dict[tuple[str, ...], Any] = {}
    open_tables: set[tuple[str, ...]] = set()
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        found[path] = info.annotation
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            inner, tables = _paths(annotation, path)
            found.update(inner)
            open_tables |= tables
        elif getattr(annotation, "__origin__", None) is dict:
            open_tables.add(path)
    return found, frozenset(open_tables)


def _env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def _dotenv_names(path: Path) -> list[str]:
    """The variable names a .env file sets (its values are pydantic's to read)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []  # pydantic reads it, and says what is wrong with it
    names = []
    for raw in lines:
        line = raw.strip().removeprefix("export ").strip()
        if line and not line.startswith("#") and "=" in line:
            names.append(line.split("=", 1)[0].strip())
    return names


def _unknown(names: list[tuple[str, str]], toml: dict[str, Any], toml_name: str) -> list[str]:
    """A line for each setting name no field has: a typo must not leave a default in place."""
    paths, open_tables = _paths(Settings)
    known = {_env_name(path) for path in paths} | {CONFIG_FILE_ENV}
    lines = []
    for name, where in names:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if any(upper.startswith(_env_name(table) + "__") for table in open_tables):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else "; .env.example lists every setting"
        lines.append(f"unknown setting {name} ({where}){hint}")

    def walk(table: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in table.items():
            path = (*prefix, key)
            if prefix in open_tables:
                continue
            if path not in paths:
                siblings = [p[-1] for p in paths if p[:-1] == prefix]
                close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.75)
                hint = f"; did you mean {close[0]}?" if close else ""
                section = f"[{'.'.join(prefix)}] " if prefix else ""
                lines.append(f"config file {toml_name}: unknown setting {section}{key}{hint}")
            elif isinstance(value, dict):
                walk(value, path)

    walk(toml, ())
    return lines


def _toml_table(named: str | None) -> dict[str, Any]:
    if not named:
        return {}
    with Path(named).open("rb") as file:
        return tomllib.load(file)


def _where_set(path: tuple[str, ...], toml: dict[str, Any], toml_name: str) -> str:
    """Which source gave a bad value: the environment (or .env) wins over the config file."""
    name = _env_name(path)
    table: Any = toml
    for part in path:
        table = table.get(part) if isinstance(table, dict) else None
    if table is None or name in os.environ or name in _dotenv_names(Path(".env")):
        return name
    section = f"[{'.'.join(path[:-1])}] " if len(path) > 1 else ""
    return f"{section}{path[-1]} in {toml_name}"


def _unparsable(field: str) -> list[str]:
    """The environment variables under a section whose list or table value is not JSON."""
    paths, _ = _paths(Settings)
    found = []
    for name, value in os.environ.items():
        upper = name.upper()
        if not upper.startswith(f"{ENV_PREFIX}{field.upper()}"):
            continue
        path = tuple(upper.removeprefix(ENV_PREFIX).lower().split("__"))
        annotation = paths.get(path)
        if getattr(annotation, "__origin__", annotation) in (list, dict, tuple, set):
            try:
                json.loads(value)
            except ValueError:
                found.append(name)
    return found


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from every source, or SettingsError naming each bad field.

    `config_file` (the command line's `--config`) wins over `COHOST_CONFIG_FILE`; either must
    exist. The environment is left as it was.
    """
    before = os.environ.get(CONFIG_FILE_ENV)
    named = str(config_file) if config_file is not None else before
    if named and not Path(named).is_file():
        # a typo in the path must not start the twin on defaults without a word
        source = "--config" if config_file is not None else CONFIG_FILE_ENV
        raise SettingsError(f"{source} {named}: no such file; fix the path or leave it out")
    if named:
        os.environ[CONFIG_FILE_ENV] = named  # read by settings_customise_sources
    try:
        toml = _toml_table(named)
        names = [(name, "the environment") for name in os.environ]
        names += [(name, ".env") for name in _dotenv_names(Path(".env"))]
        if unknown := _unknown(names, toml, str(named)):
            raise SettingsError("\n".join(unknown))
        return Settings(**overrides)
    except ValidationError as exc:
        where = lambda path: _where_set(path, toml, str(named))  # noqa: E731
        raise SettingsError(describe_error(exc, where=where)) from None
    except SourceError as exc:
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
        bad = _unparsable(field) if field else []
        named_bad = f" ({', '.join(bad)})" if bad else ""
        raise SettingsError(
            f"invalid settings: {exc}{named_bad}; lists and tables are JSON in the environment "
            """and .env: COHOST_TWIN__ALIASES='["moss", "mossy"]'"""
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {named}: {exc}") from None
    finally:
        if before is None:
            os.environ.pop(CONFIG_FILE_ENV, None)
        else:
            os.environ[CONFIG_FILE_ENV] = before


def _env_lines(model: type[BaseModel], prefix: str) -> list[str]:
    lines: list[str] = []
    for name, info in model.model_fields.items():
        env_name = f"{prefix}{name.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            doc = (annotation.__doc__ or "").strip().splitlines()[0]
            lines += ["", f"# --- {env_name}__*: {doc}"]
            lines += _env_lines(annotation, f"{env_name}__")
            continue
        if info.default_factory is not None and name == "data_dir":
            default = "(the user's data directory, e.g. ~/.local/share/cohost)"
        elif info.default_factory is not None:
            default = json.dumps(_jsonable(info.default_factory()))  # type: ignore[call-arg]
        else:
            default = _jsonable(info.default)
            default = "" if default is None else default
            default = json.dumps(default) if isinstance(default, list | dict | bool) else default
        lines.append(f"# {info.description or name}")
        lines.append(f"# {env_name}={default}")
    return lines


def _jsonable(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def env_example() -> str:
    """The text of .env.example: every setting, its default and what it is for."""
    head = [
        "# cohost settings. Every line is a default; uncomment and change what you need.",
        '# Lists are JSON (COHOST_TWIN__ALIASES=\'["moss", "mossy"]\'). Secrets stay in this file',
        "# or the environment, never in the repository. A TOML file works too: COHOST_CONFIG_FILE.",
    ]
    return "\n".join(head + _env_lines(Settings, ENV_PREFIX)) + "\n"


if __name__ == "__main__":
    print(env_example(), end="")
