"""Making job output and messages safe to show: escaped by Jinja, and inert here.

Autoescaping already stops markup; this removes what would still confuse a
reader or a terminal-minded browser: ANSI escape sequences, carriage returns
that overwrite lines, NUL and other control bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pitmaster.models import readable_message

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def clean_output(text: str | None) -> str:
    """Job output as plain text: no ANSI colours, CR as a line break, controls made visible."""
    if not text:
        return ""
    text = _ANSI.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Lone surrogates come from bytes that were not UTF-8; show them as U+FFFD.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(_control_picture, text)


def format_message(message: Any) -> str:
    """The message as indented JSON, its text cleaned like output."""
    try:
        text = json.dumps(message, indent=2, ensure_ascii=False, sort_keys=True)
    except (RecursionError, ValueError):  # stored before enqueue limited the depth
        text = str(readable_message(message))
    return clean_output(text)
