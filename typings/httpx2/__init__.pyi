# starlette's TestClient is typed against httpx2 and, without it, runs on httpx
# (which pitmaster installs): this stub tells mypy that httpx2 here is httpx.
from httpx import *  # noqa: F403  (all of httpx, whatever it exports)
from httpx import _client as _client
from httpx import _types as _types
