"""Making job output and messages safe to show: escaped by Jinja, and inert here.

Autoescaping already stops markup; this removes what would still confuse a
reader or a terminal-minded browser: ANSI escape sequences, carriage returns
that overwrite lines, NUL and other control bytes.
"""

from __future__ import annotations

import json
from typing import Any

from pitmaster.inert import clean_output
from pitmaster.models import readable_message

__all__ = ["clean_output", "format_message"]


def format_message(message: Any) -> str:
    """The message as indented JSON, its text cleaned like output."""
    try:
        text = json.dumps(message, indent=2, ensure_ascii=False, sort_keys=True)
    except (RecursionError, ValueError):  # stored before enqueue limited the depth
        text = str(readable_message(message))
    return clean_output(text)
