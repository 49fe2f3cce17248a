"""Writing JSON lines: one record a line, UTF-8, the file replaced only when complete."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cohost.core.errors import InputError
from cohost.core.files import SHARED, atomic_file, write_atomic
from cohost.core.serialise import json_line


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write records to `path` (through a temporary file beside it); returns how many."""
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, mode=SHARED) as file:
            for record in records:
                file.write(json_line(record).encode("utf-8"))
                count += 1
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=path) from None
    return count


def write_json(path: Path, data: Any) -> None:
    """Write one JSON document (a report), indented."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", mode=SHARED)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=path) from None
