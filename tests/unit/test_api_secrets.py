"""Apps' secrets over the HTTP API: set, listed by name, deleted, and never shown again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pitmaster.app_secrets import SECRET_VALUE_MAX_BYTES, SECRETS_PER_APP_MAX, SecretBox, new_key
from pitmaster.server.app import create_app
from pitmaster.services import tokens
from pitmaster.settings import Settings
from pitmaster.store.store import Store

from ..credentials import ADMIN
from ..databases import dump_all_rows
from .conftest import log_in, serving

VALUE = "pa55-Ωmega-7f3c9e-do-not-show"
KEY = new_key()


@pytest.fixture
def keyed(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API of a server with a secrets key, and an app ``shop``."""
    with serving(settings.model_copy(update={"secrets_key": SecretStr(KEY)}), store) as client:
        assert client.post("/v1/apps", json={"name": "shop", "docker_image": "shop:1"}).is_success
        yield client


def _put(client: TestClient, name: str, value: str, app: str = "shop") -> httpx.Response:
    return client.put(f"/v1/apps/{app}/secrets/{name}", json={"value": value})


def test_given_a_new_secret_when_put_then_201_with_its_name_and_never_its_value(
    keyed: TestClient, store: Store
) -> None:
    response = _put(keyed, "API_TOKEN", VALUE)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "API_TOKEN"
    assert set(body) == {"name", "created_at", "updated_at"}
    assert VALUE not in response.text
    [secret] = store.list_secrets("shop")
    assert secret.name == "API_TOKEN"


def test_given_an_existing_secret_when_put_again_then_200_and_the_new_value_is_sealed(
    keyed: TestClient, store: Store
) -> None:
    _put(keyed, "API_TOKEN", "first")

    response = _put(keyed, "API_TOKEN", VALUE)

    assert response.status_code == 200, response.text
    [sealed] = store.sealed_secrets()
    assert SecretBox(KEY).open("shop", "API_TOKEN", sealed.ciphertext) == VALUE


def test_given_secrets_when_listed_then_names_and_times_only_sorted_by_name(
    keyed: TestClient,
) -> None:
    _put(keyed, "ZED", VALUE)
    _put(keyed, "_alpha", VALUE)

    response = keyed.get("/v1/apps/shop/secrets")

    assert response.status_code == 200
    assert [s["name"] for s in response.json()] == ["ZED", "_alpha"]
    assert all(set(s) == {"name", "created_at", "updated_at"} for s in response.json())
    assert VALUE not in response.text


def test_given_a_secret_when_deleted_then_204_and_gone_and_deleting_again_404(
    keyed: TestClient, store: Store
) -> None:
    _put(keyed, "API_TOKEN", VALUE)

    assert keyed.delete("/v1/apps/shop/secrets/API_TOKEN").status_code == 204

    assert store.list_secrets("shop") == []
    again = keyed.delete("/v1/apps/shop/secrets/API_TOKEN")
    assert again.status_code == 404
    assert "API_TOKEN" in again.json()["error"]


def test_given_an_app_when_deleted_then_its_secrets_go_with_it(
    keyed: TestClient, store: Store
) -> None:
    _put(keyed, "API_TOKEN", VALUE)

    assert keyed.delete("/v1/apps/shop").status_code == 204

    assert store.sealed_secrets() == []


def test_given_an_unknown_app_then_404_for_each_secret_route(keyed: TestClient) -> None:
    assert _put(keyed, "API_TOKEN", VALUE, app="nope").status_code == 404
    assert keyed.get("/v1/apps/nope/secrets").status_code == 404
    assert keyed.delete("/v1/apps/nope/secrets/API_TOKEN").status_code == 404


BAD_NAMES = ["9LIVES", "API-TOKEN", "a.b", "with space", "é", "X" * 129]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_given_a_bad_name_when_put_then_422_naming_the_rule_and_nothing_stored(
    keyed: TestClient, store: Store, name: str
) -> None:
    response = _put(keyed, name, VALUE)

    assert response.status_code == 422, response.text
    assert "name" in response.json()["error"]
    assert VALUE not in response.text
    assert store.list_secrets("shop") == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"value": 42}, 422),
        ({"value": None}, 422),
        ({"value": "x", "extra": 1}, 400),  # a field the request does not take
        ({"value": ["a"]}, 422),
    ],
    ids=["missing", "number", "null", "extra field", "list"],
)
def test_given_a_bad_body_when_put_then_4xx_and_nothing_stored(
    keyed: TestClient, store: Store, body: dict[str, object], status: int
) -> None:
    response = keyed.put("/v1/apps/shop/secrets/API_TOKEN", json=body)

    assert response.status_code == status, response.text
    assert store.list_secrets("shop") == []


def test_given_a_value_over_64_kib_when_put_then_422_saying_its_size_not_its_content(
    keyed: TestClient, store: Store
) -> None:
    too_big = "€" * (SECRET_VALUE_MAX_BYTES // 3 + 1)  # 3 bytes each in UTF-8

    response = _put(keyed, "BIG", too_big)

    assert response.status_code == 422
    assert str(SECRET_VALUE_MAX_BYTES) in response.json()["error"]
    assert "€€" not in response.text
    assert store.list_secrets("shop") == []
    assert _put(keyed, "BIG", "x" * SECRET_VALUE_MAX_BYTES).status_code == 201


def test_given_an_app_with_the_most_secrets_when_another_is_put_then_422_and_replacing_works(
    keyed: TestClient, store: Store
) -> None:
    sealed = SecretBox(KEY).seal("shop", "S", "v")
    for number in range(SECRETS_PER_APP_MAX):
        store.put_secret("shop", f"S{number}", sealed, SECRETS_PER_APP_MAX)

    response = _put(keyed, "ONE_MORE", VALUE)

    assert response.status_code == 422
    assert str(SECRETS_PER_APP_MAX) in response.json()["error"]
    assert len(store.list_secrets("shop")) == SECRETS_PER_APP_MAX
    assert _put(keyed, "S0", VALUE).status_code == 200


def test_given_no_key_when_a_secret_is_put_then_503_saying_how_to_set_one_and_nothing_stored(
    settings: Settings, store: Store
) -> None:
    store.create_app("shop", "shop:1")
    assert settings.secrets_key is None
    # A plain client: the shared one fails any test that gets a 5xx, and this 503 is meant.
    tokens.ensure_admin_tokens(settings, store)
    app = create_app(settings, store)
    with TestClient(app, raise_server_exceptions=False, headers=ADMIN) as client:
        response = _put(client, "API_TOKEN", VALUE)
        listed = client.get("/v1/apps/shop/secrets")

    assert response.status_code == 503
    assert "PITMASTER_SECRETS_KEY" in response.json()["error"]
    assert "pitmaster secrets new-key" in response.json()["error"]
    assert store.list_secrets("shop") == []
    assert listed.status_code == 200 and listed.json() == []


def test_given_a_secret_when_set_then_its_value_is_nowhere_in_the_database_or_any_answer(
    keyed: TestClient, store: Store, database_url: str, tmp_path: Path
) -> None:
    store.create_job_definition("shop", "mail", ["m"])
    answers = [_put(keyed, "API_TOKEN", VALUE).text]
    log_in(keyed)  # for the console's page

    for path in (
        "/v1/apps",
        "/v1/apps/shop",
        "/v1/apps/shop/secrets",
        "/v1/apps/shop/job_definitions",
        "/v1/apps/shop/job_definitions/mail",
        "/openapi.json",
        "/apps/shop",
    ):
        response = keyed.get(path)
        assert response.status_code == 200, path
        answers.append(response.text)

    assert all(VALUE not in answer for answer in answers)
    assert "API_TOKEN" in answers[-1]  # the console's app page shows the name
    dumped = dump_all_rows(database_url)
    assert "API_TOKEN" in dumped  # the dump does hold the secret's row ...
    assert VALUE not in dumped  # ... but not its value
    if database_url.startswith("sqlite"):
        raw = b"".join(path.read_bytes() for path in tmp_path.glob("pitmaster.db*"))
        assert b"API_TOKEN" in raw
        assert VALUE.encode() not in raw
