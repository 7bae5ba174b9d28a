"""Which Docker images jobs may run in: ``PITMASTER_ALLOWED_IMAGES``, matched as Docker reads names.

Docker fills in what a short name leaves out: ``alpine`` is
``docker.io/library/alpine``, ``team/app`` is ``docker.io/team/app``. Both the
images and the rules are compared in that full form, so a rule cannot be
dodged by spelling an image another way.

A rule is one of:

- a registry, or a path on one, ending with ``/``: ``registry.example.com/``,
  ``registry.example.com/team/``, ``docker.io/library/``. Every image under it.
  A bare host name (``registry.example.com``, ``localhost:5000``) is read as a
  registry too.
- a repository: ``pitmaster-demo``, ``team/app``, ``registry.example.com/app``.
  That repository at any tag or digest, and the repositories below it
  (``team/app/worker``), but not ``team/app-other``.
- a repository with a tag or digest: ``alpine:3.20``. Exactly that image.

Under an allow-list an image ID is refused, whatever the rules: Docker runs
``sha256:<id>``, a 64-hex ID, or the first hex digits of a local image's ID
(a bare ``3f9a1c2b7d4e``, when no image of that name exists) as that image,
whichever repository it came from, so its name says nothing about it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pitmaster.errors import InvalidInput

DEFAULT_REGISTRY = "docker.io"
_OFFICIAL_NAMESPACE = "library"
_LEGACY_HUB_NAMES = ("index.docker.io", "registry-1.docker.io")


def _looks_like_registry(component: str) -> bool:
    """Docker's rule: a first component with a dot or a port, or ``localhost``, is a registry."""
    return "." in component or ":" in component or component == "localhost"


def _registry(component: str) -> str:
    host = component.lower()
    return DEFAULT_REGISTRY if host in _LEGACY_HUB_NAMES else host


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and (_looks_like_registry(first) or first.lower() != first):
        return _registry(first), rest
    return DEFAULT_REGISTRY, name


def _split_reference(image: str) -> tuple[str, str]:
    """An image's name, and its ``:tag`` and/or ``@digest`` suffix (empty if none)."""
    name, at, digest = image.partition("@")
    suffix = f"@{digest}" if at else ""
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:  # a ':' after the last '/' starts the tag, not a registry port
        name, suffix = name[:colon], name[colon:] + suffix
    return name, suffix


def normalise(image: str) -> str:
    """The full reference Docker reads ``image`` as: registry, path, and any tag or digest."""
    name, suffix = _split_reference(image.strip())
    registry, path = _split_registry(name)
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"{_OFFICIAL_NAMESPACE}/{path}"
    return f"{registry}/{path}{suffix}"


def repository(image: str) -> str:
    """The normalised repository of ``image``, without tag or digest."""
    return _split_reference(normalise(image))[0]


def _prefix_rule(rule: str) -> str:
    """A rule naming a registry or a path on it, as the prefix of the repositories it allows."""
    path = rule.strip("/")
    first, slash, rest = path.partition("/")
    if _looks_like_registry(first):
        return f"{_registry(first)}/{rest}/" if slash else f"{_registry(first)}/"
    return f"{DEFAULT_REGISTRY}/{path}/"


def _is_bare_registry(rule: str) -> bool:
    """``registry.example.com`` or ``localhost:5000``; but ``alpine:3.20`` is an image."""
    if "/" in rule:
        return False
    host = rule.partition(":")[0]
    return "." in host or host == "localhost"


def rule_allows(rule: str, image: str) -> bool:
    rule = rule.strip()
    if not rule:
        return False
    candidate = normalise(image)
    name = _split_reference(candidate)[0]
    if rule.endswith("/") or _is_bare_registry(rule):
        return f"{name}/".startswith(_prefix_rule(rule))
    if _split_reference(rule)[1]:
        return candidate == normalise(rule)
    allowed = repository(rule)
    return name == allowed or name.startswith(f"{allowed}/")


def looks_like_image_id(image: str) -> bool:
    """Whether Docker may read ``image`` as an image ID: ``sha256:...``, or hex digits alone."""
    text = image.strip().lower()
    if text.startswith("sha256:"):
        return True
    name, suffix = _split_reference(text)
    return not suffix and "/" not in name and bool(name) and all(c in _HEX for c in name)


_HEX = frozenset("0123456789abcdef")


def image_allowed(image: str, rules: Sequence[str] | None) -> bool:
    """Whether ``image`` may run; ``rules`` None (the default) allows every image."""
    if rules is None:
        return True
    if looks_like_image_id(image):
        return False
    return any(rule_allows(rule, image) for rule in rules)


def parse_rules(text: str | None) -> tuple[str, ...] | None:
    """The comma-separated setting as rules; None when it is unset or blank (any image)."""
    if text is None:
        return None
    rules = tuple(part.strip() for part in text.split(",") if part.strip())
    return rules or None


def check_image_allowed(image: str, rules: Sequence[str] | None) -> None:
    """Refuse an image the settings do not allow, saying which are."""
    if not image_allowed(image, rules):
        assert rules is not None
        if looks_like_image_id(image):
            raise InvalidInput(
                f"image {image!r} is an image ID (or may be read as one): with "
                "PITMASTER_ALLOWED_IMAGES set, name an image by repository and tag"
            )
        raise InvalidInput(
            f"image {image!r} is not allowed here: PITMASTER_ALLOWED_IMAGES allows only "
            + ", ".join(rules)
        )
