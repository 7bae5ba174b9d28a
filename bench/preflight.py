"""What the benchmarks need installed, checked before the first measurement.

A benchmark that stops after minutes for a missing peer wastes the run: every
import is tried up front, and a missing one is answered with the one command
that installs it.
"""

from __future__ import annotations

import importlib.util

# The modules bench/ imports (at the top or when a measurement starts): its peers
# come with the bench extra, the rest with pitmaster itself.
NEEDED = (
    "docker",
    "fastapi",
    "httpx",
    "huey",
    "procrastinate",
    "psycopg",
    "sqlalchemy",
    "uvicorn",
)
FIX = ".venv/bin/pip install -e '.[bench]'"


def missing(modules: tuple[str, ...] = NEEDED) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def check() -> None:
    """Stop with the command that fixes it if anything the benchmarks import is missing."""
    absent = missing()
    if absent:
        raise SystemExit(
            f"bench: missing {', '.join(absent)}; install the benchmark peers with:\n    {FIX}"
        )
