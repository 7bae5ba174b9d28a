"""The API tokens tests authenticate with.

Every test suite runs pitmaster with ``ADMIN_TOKEN`` as its admin token
(``PITMASTER_ADMIN_TOKEN``; the ``settings`` fixture's ``admin_token``), and
sends it unless a test says otherwise: ``bearer(token)`` makes the header.
"""

from __future__ import annotations

ADMIN_TOKEN = "pm_00000000ad01_admin-token-of-the-test-suites-only-0000"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)
