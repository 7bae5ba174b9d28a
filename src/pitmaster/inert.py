"""Job output made inert: safe to show in a page or write to a terminal.

What remains is plain text: no ANSI escape sequences (colours, cursor moves,
OSC 8 hyperlinks, window titles), carriage returns that overwrite lines become
line breaks, and NUL and other control characters are shown as their pictures.
The console and ``pitmaster logs`` both use it.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# C1 controls (U+0080 to U+009F): U+009B is a CSI of its own to many terminals.
_C1 = re.compile(r"[\x80-\x9f]")
_DELETE = 0x7F
# U+2400 on: the pictures of the controls U+0000 to U+001F, in order.
_CONTROL_PICTURES = 0x2400


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return "\u2421" if code == _DELETE else chr(_CONTROL_PICTURES + code)


def clean_output(text: str | None) -> str:
    """Job output as plain text: no ANSI colours, CR as a line break, controls made visible."""
    if not text:
        return ""
    text = _ANSI.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Lone surrogates come from bytes that were not UTF-8; show them as U+FFFD.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _C1.sub("\ufffd", _CONTROL.sub(_control_picture, text))
