"""What the API and the console share as HTTP surfaces: the dependencies of their
handlers (``Services``, the caller), the rate limiter, the wording of validation errors."""
