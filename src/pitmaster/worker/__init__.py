"""The worker: a Runner that starts attempts detached, a Poller that records how they ended."""
