"""``/v1/schedules`` over HTTP: manage, pause, resume, run now, next runs, filtered executions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pitmaster.services import tokens
from pitmaster.store.store import Store

from ..credentials import bearer


def _given_a_job(store: Store) -> None:
    store.create_app("shop", "shop:1")
    store.create_job_definition("shop", "report", ["report"])


SCHEDULE = {
    "name": "nightly",
    "application": "shop",
    "job": "report",
    "cron": "@daily",
    "timezone": "Europe/Berlin",
    "message": {"kind": "daily"},
}


def test_given_a_schedule_when_created_then_it_shows_its_next_five_runs(
    client: TestClient, store: Store
) -> None:
    _given_a_job(store)
    response = client.post("/v1/schedules", json=SCHEDULE)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["missed_ticks"] == "once" and body["paused"] is False
    assert len(body["next_runs"]) == 5
    assert body["next_runs"][0] == body["next_tick"]
    assert [s["name"] for s in client.get("/v1/schedules").json()] == ["nightly"]


def test_given_bad_cron_or_zone_or_unknown_job_then_4xx_and_nothing_made(
    client: TestClient, store: Store
) -> None:
    _given_a_job(store)
    assert client.post("/v1/schedules", json=SCHEDULE | {"cron": "* * *"}).status_code == 422
    assert (
        client.post("/v1/schedules", json=SCHEDULE | {"timezone": "Nowhere/X"}).status_code == 422
    )
    assert client.post("/v1/schedules", json=SCHEDULE | {"job": "nope"}).status_code == 404
    assert (
        client.post("/v1/schedules", json=SCHEDULE | {"missed_ticks": "twice"}).status_code == 422
    )
    assert client.get("/v1/schedules").json() == []


def test_given_a_schedule_when_paused_resumed_and_run_now_then_each_answers(
    client: TestClient, store: Store
) -> None:
    _given_a_job(store)
    client.post("/v1/schedules", json=SCHEDULE)

    paused = client.post("/v1/schedules/nightly/pause").json()
    assert paused["paused"] is True and paused["next_runs"] == []
    resumed = client.post("/v1/schedules/nightly/resume").json()
    assert resumed["paused"] is False and len(resumed["next_runs"]) == 5

    run = client.post("/v1/schedules/nightly/runs")
    assert run.status_code == 201
    listed = client.get("/v1/job_executions", params={"schedule": "nightly"}).json()
    assert [e["message_id"] for e in listed["items"]] == [run.json()["message_id"]]
    store.enqueue("shop", "report", "default", {})
    assert len(client.get("/v1/job_executions").json()["items"]) == 2


def test_given_a_schedule_when_patched_and_deleted_then_it_changes_and_goes(
    client: TestClient, store: Store
) -> None:
    _given_a_job(store)
    client.post("/v1/schedules", json=SCHEDULE)
    patched = client.patch(
        "/v1/schedules/nightly", json={"cron": "0 6 * * 1", "missed_ticks": "all"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["cron"] == "0 6 * * 1" and patched.json()["missed_ticks"] == "all"
    assert client.delete("/v1/schedules/nightly").status_code == 204
    assert client.get("/v1/schedules/nightly").status_code == 404


def test_given_an_app_token_then_schedules_are_forbidden(client: TestClient, store: Store) -> None:
    _given_a_job(store)
    token = tokens.create_token(store, "shop", "")[1]
    assert client.get("/v1/schedules", headers=bearer(token)).status_code == 403
    assert client.post("/v1/schedules", json=SCHEDULE, headers=bearer(token)).status_code == 403
