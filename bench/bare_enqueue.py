"""The floor for HTTP enqueue: a bare FastAPI endpoint inserting one row through SQLAlchemy.

    python -m bench.bare_enqueue DATABASE_URL PORT

Run by ``bench/http_enqueue.py`` on the same database, with the same uvicorn,
as ``pitmaster server`` is measured on: what is left between the two is
pitmaster's own work per request.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from pitmaster.store.engine import create_engine

metadata = sa.MetaData()
bare_messages = sa.Table(
    "bench_bare_messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("message_id", sa.String(36), nullable=False, unique=True),
    sa.Column("application", sa.String(255), nullable=False),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("message", sa.JSON(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class Message(BaseModel):
    application: str
    job: str
    message: Any = None


def app_for(database_url: str) -> FastAPI:
    # pitmaster's own engine settings (pool, SQLite pragmas: WAL, synchronous=FULL).
    engine = create_engine(database_url)
    metadata.create_all(engine)
    app = FastAPI()

    @app.post("/enqueue", status_code=201)
    def enqueue(body: Message) -> dict[str, str]:
        message_id = str(uuid.uuid4())
        with engine.begin() as conn:
            conn.execute(
                bare_messages.insert().values(
                    message_id=message_id,
                    application=body.application,
                    job=body.job,
                    message=body.message,
                    created_at=datetime.now(UTC),
                )
            )
        return {"message_id": message_id, "status": "pending"}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    uvicorn.run(app_for(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
