"""The server process's application: the API and the console in one ASGI app, its guards
(security headers, rate limit, body cap) and the translation of every error into an answer."""
