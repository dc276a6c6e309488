"""The one JSON writer of the json, asff and ocsf formats: indented, one trailing newline, and
quiet when the reader of a pipe has gone (`| head`)."""

from __future__ import annotations

import contextlib
import json
from typing import IO, Any


def write_json(document: Any, stream: IO[str]) -> None:
    with contextlib.suppress(BrokenPipeError):
        json.dump(document, stream, indent=2)
        stream.write("\n")


__all__ = ["write_json"]
