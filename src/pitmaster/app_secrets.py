"""Per-app secrets: sealed with a key from the settings, opened only to hand them to a job.

Values are encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package) under ``PITMASTER_SECRETS_KEY``. The sealed text
also names the app and the secret, and opening checks both: a sealed value
copied to another app's row in the database does not open there.

``PITMASTER_SECRETS_KEY`` may hold several keys, comma-separated: the first
seals, every one opens. That is how a key is rotated without stopping jobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pitmaster.errors import PitmasterError

SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"  # noqa: S105 (a pattern, not a password)
SECRET_NAME_MAX_LENGTH = 128
SECRET_VALUE_MAX_BYTES = 64 * 1024
SECRETS_PER_APP_MAX = 100
# Where a job finds its app's secrets: one file per secret, named after it.
SECRETS_DIRECTORY = "/run/secrets"
# Readable by whatever user the image runs its job as (as Docker's own secrets
# are); the container holds one job, so nothing else in it can read them.
SECRET_FILE_MODE = 0o444
NO_KEY_HINT = (
    "set PITMASTER_SECRETS_KEY on the server and the workers to a Fernet key "
    "(make one with `pitmaster secrets new-key`) and restart them"
)
_ENVELOPE_VERSION = 1


class SecretsUnavailable(PitmasterError):
    """This process has no key to seal secrets with: an operator has to set one."""

    http_status = 503


class SecretUnreadable(PitmasterError):
    """A stored secret does not open with the keys this process has."""


def new_key() -> str:
    """A fresh random key for ``PITMASTER_SECRETS_KEY``."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> MultiFernet:
    """The keys of a ``PITMASTER_SECRETS_KEY`` value; ValueError names what is wrong."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError("PITMASTER_SECRETS_KEY is empty")
    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as exc:
            # Never echo the key itself: it may be one a typo away from the real one.
            raise ValueError(
                f"key {number} of PITMASTER_SECRETS_KEY is not a Fernet key "
                "(32 bytes in URL-safe base64, 44 characters)"
            ) from exc
    return MultiFernet(fernets)


class SecretBox:
    """Seals and opens secret values for one app and name at a time."""

    def __init__(self, keys: str) -> None:
        self._fernet = parse_keys(keys)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def seal(self, app: str, name: str, value: str) -> str:
        envelope = {"v": _ENVELOPE_VERSION, "app": app, "name": name, "value": value}
        return self._fernet.encrypt(json.dumps(envelope).encode("utf-8")).decode("ascii")

    def open(self, app: str, name: str, sealed: str) -> str:
        try:
            envelope = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, UnicodeError, ValueError) as exc:
            raise SecretUnreadable(
                f"secret {name} of app {app!r} does not open with this process's "
                "PITMASTER_SECRETS_KEY (was it sealed under another key?)"
            ) from exc
        if envelope.get("app") != app or envelope.get("name") != name:
            raise SecretUnreadable(
                f"secret {name} of app {app!r} was sealed for another app or name: refused"
            )
        value = envelope.get("value")
        if not isinstance(value, str):
            raise SecretUnreadable(f"secret {name} of app {app!r} is malformed")
        return value

    def open_all(self, app: str, sealed: Mapping[str, str]) -> dict[str, str]:
        return {name: self.open(app, name, token) for name, token in sealed.items()}

    def reseal(self, sealed: str) -> str:
        """The same value sealed under the first key (for rotating keys)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise SecretUnreadable(
                "a stored secret does not open with any key in PITMASTER_SECRETS_KEY"
            ) from exc


def secret_box(keys: str | None) -> SecretBox | None:
    """The box for the configured keys; None when no key is set."""
    if keys is None or not keys.strip():
        return None
    return SecretBox(keys)


def require_box(keys: str | None) -> SecretBox:
    box = secret_box(keys)
    if box is None:
        raise SecretsUnavailable(f"secrets are not enabled on this server: {NO_KEY_HINT}")
    return box
