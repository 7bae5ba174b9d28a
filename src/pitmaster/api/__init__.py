"""The HTTP API (FastAPI): v1 management and reads, v2 enqueue (barbeque-compatible)."""
