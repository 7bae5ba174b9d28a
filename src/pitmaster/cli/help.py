"""How ``--help`` names arguments and flags: as a man page would, ``APP JOB`` and ``--wait``.

Typer 0.29 writes a required argument as ``{APP}`` in usage lines, and gives a
flag (which takes no value) and an argument named by its metavar a type label,
``--wait <bool>``, ``APP <str>``: both read as if a value had to be typed there.
Typer has no setting for either, so these two methods are replaced once, here.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

_option_type = TyperOption.display_type_rich
_argument_type = TyperArgument.display_type_rich


def _option_type_unless_flag(self: TyperOption, ctx: Any) -> str | None:
    return None if self.is_flag else _option_type(self, ctx)


def _argument_type_unless_named(self: TyperArgument, ctx: Any) -> str | None:
    return None if self.metavar is not None else _argument_type(self, ctx)


def _usage_name(self: TyperArgument) -> str:
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


def use_plain_names() -> None:
    replacements: list[tuple[type, str, Any]] = [
        (TyperOption, "display_type_rich", _option_type_unless_flag),
        (TyperArgument, "display_type_rich", _argument_type_unless_named),
        (TyperArgument, "_usage_display_name", _usage_name),
    ]
    for cls, name, method in replacements:
        if hasattr(cls, name):  # another Typer may name them otherwise: then leave its help be
            setattr(cls, name, method)
