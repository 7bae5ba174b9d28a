"""The one error hierarchy of pitmaster; the API translates it to HTTP in one place."""


class PitmasterError(Exception):
    """Base of every error pitmaster raises on purpose."""

    http_status = 500


class InvalidInput(PitmasterError):
    """The caller asked for something malformed or impossible."""

    http_status = 422


class Unauthenticated(PitmasterError):
    """No credentials, or credentials that are wrong, unknown or revoked."""

    http_status = 401


class Forbidden(PitmasterError):
    """The caller is known but may not do this (an app token on an admin route)."""

    http_status = 403


class NotFound(PitmasterError):
    """A named app, job definition, queue or execution does not exist."""

    http_status = 404


class Conflict(PitmasterError):
    """The request clashes with what is stored (a duplicate name, a wrong state)."""

    http_status = 409


class TooLarge(PitmasterError):
    """A message or body is over its size limit."""

    http_status = 413


class StoreError(PitmasterError):
    """The database could not be reached or refused the operation."""

    http_status = 503


class ExecutorError(PitmasterError):
    """The container engine could not be reached or refused the operation."""

    http_status = 503


class ImageUnavailable(ExecutorError):
    """The image is neither present locally nor pullable: the attempt cannot start."""
