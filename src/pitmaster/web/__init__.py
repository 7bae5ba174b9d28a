"""The web console: server-rendered pages served by the API process."""
