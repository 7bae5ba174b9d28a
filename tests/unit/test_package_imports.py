"""Which of pitmaster's packages may import which (docs/architecture.md draws it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pitmaster

SOURCE = Path(pitmaster.__file__).parent

# The packages each package may import from pitmaster; modules at the top level
# (models, settings, errors, auth, images ...) are shared by all and not listed.
ALLOWED: dict[str, set[str]] = {
    "store": set(),
    "executors": set(),
    "worker": {"store", "executors"},
    "services": {"store", "executors"},
    "http_common": {"services", "store", "executors"},
    "api": {"http_common", "services", "store", "executors"},
    "web": {"http_common", "services", "store", "executors"},
    "server": {"api", "web", "http_common", "services", "store", "executors"},
    # The command runs the server and the worker, and works on the database through the
    # services; it never reaches into the API's or the console's handlers.
    "cli": {"server", "worker", "services", "store", "executors", "client"},
    # The API's Python client: HTTP only, nothing of the server.
    "client": set(),
}
# Third-party packages a package must not use: the services know nothing of HTTP.
FORBIDDEN_THIRD_PARTY = {"services": {"fastapi", "starlette", "jinja2", "docker"}}


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module == "pitmaster":  # from pitmaster import api: a package too
                yield from (f"pitmaster.{alias.name}" for alias in node.names)


def _package_files(package: str) -> list[Path]:
    return sorted((SOURCE / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "pitmaster" and len(parts) > 1 and (SOURCE / parts[1]).is_dir():
            found.add(parts[1])
    return found


def test_given_the_source_when_its_imports_are_read_then_each_package_imports_only_what_it_may():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in _package_files(package):
            relative = path.relative_to(SOURCE).as_posix()
            for imported in _imported_packages(path) - allowed - {package}:
                wrong.append(f"{relative} imports pitmaster.{imported}")
    assert wrong == []


def test_given_every_package_when_listed_then_each_has_rules():
    packages = {p.name for p in SOURCE.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED)


def test_given_the_services_when_their_imports_are_read_then_none_is_of_http_or_docker():
    wrong = []
    for package, forbidden in FORBIDDEN_THIRD_PARTY.items():
        for path in _package_files(package):
            for name in _imports(path):
                if name.split(".")[0] in forbidden:
                    wrong.append(f"{path.relative_to(SOURCE).as_posix()} imports {name}")
    assert wrong == []


def test_given_the_allowed_imports_when_followed_then_no_package_reaches_itself_again():
    def reachable(start: str) -> set[str]:
        found: set[str] = set()
        frontier = set(ALLOWED[start])
        while frontier:
            package = frontier.pop()
            if package not in found:
                found.add(package)
                frontier |= ALLOWED.get(package, set())
        return found

    assert [package for package in ALLOWED if package in reachable(package)] == []
