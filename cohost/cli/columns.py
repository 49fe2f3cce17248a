"""`--columns` for every command that reads chat logs, and the setting behind it."""

from __future__ import annotations

import argparse

from cohost.app.settings import Settings
from cohost.chatlog.csvlog import parse_columns
from cohost.core.errors import SettingsError


def _columns(text: str) -> dict[str, str]:
    """A --columns value: `time=COL,user=COL,text=COL`."""
    try:
        return parse_columns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_columns_option(parser: argparse.ArgumentParser) -> None:
    """`--columns time=COL,user=COL,text=COL`, for every command that reads chat logs."""
    parser.add_argument(
        "--columns",
        type=_columns,
        metavar="time=COL,user=COL,text=COL",
        help="a CSV log's columns, when its header names are not known ones (also "
        "name=, user_id=, id=, channel=, badges=, bits=; setting replay.csv_columns)",
    )


def log_columns(args: argparse.Namespace, settings: Settings) -> dict[str, str] | None:
    """The CSV column mapping: --columns, else the setting, else None (the header decides)."""
    columns: dict[str, str] | None = getattr(args, "columns", None)
    if columns is not None:
        return columns
    configured = settings.replay.csv_columns
    if not configured:
        return None
    try:
        return parse_columns(",".join(f"{key}={value}" for key, value in configured.items()))
    except ValueError as exc:
        raise SettingsError(f"replay.csv_columns: {exc}") from None
