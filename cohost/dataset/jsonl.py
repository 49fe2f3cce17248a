"""Writing JSON lines: one record a line, UTF-8, the file replaced only when complete."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cohost.core.errors import InputError
from cohost.core.serialise import json_line


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write records to `path` (through a temporary file beside it); returns how many."""
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8", newline="\n") as file:
            for record in records:
                file.write(json_line(record))
                count += 1
        tmp.replace(path)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=path) from None
    finally:
        tmp.unlink(missing_ok=True)
    return count


def write_json(path: Path, data: Any) -> None:
    """Write one JSON document (a report), indented."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=path) from None
