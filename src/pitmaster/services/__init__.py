"""One function per user-visible operation, shared by the API and the console.

Each takes what it needs explicitly (the store, the settings, a wake-up, a log
reader) and knows nothing of HTTP or HTML: the API and the console translate
their requests into these calls and the results back, so the two cannot drift.
"""
