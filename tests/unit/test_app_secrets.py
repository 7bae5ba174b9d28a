"""Sealing secrets: encrypted, bound to their app and name, opened only with the right key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pitmaster.app_secrets import (
    SecretBox,
    SecretsUnavailable,
    SecretUnreadable,
    new_key,
    parse_keys,
    require_box,
    secret_box,
)
from pitmaster.settings import Settings

VALUE = "s3cr3t-value-Ωmega"


def test_given_a_value_when_sealed_then_it_opens_to_itself_and_is_not_in_the_sealed_text() -> None:
    box = SecretBox(new_key())

    sealed = box.seal("shop", "API_TOKEN", VALUE)

    assert VALUE not in sealed and "s3cr3t" not in sealed
    assert box.open("shop", "API_TOKEN", sealed) == VALUE


def test_given_the_same_value_sealed_twice_then_the_sealed_texts_differ() -> None:
    box = SecretBox(new_key())

    assert box.seal("shop", "A", VALUE) != box.seal("shop", "A", VALUE)


def test_given_a_sealed_value_moved_to_another_app_or_name_when_opened_then_refused() -> None:
    box = SecretBox(new_key())
    sealed = box.seal("shop", "API_TOKEN", VALUE)

    with pytest.raises(SecretUnreadable, match="another app or name"):
        box.open("blog", "API_TOKEN", sealed)
    with pytest.raises(SecretUnreadable, match="another app or name"):
        box.open("shop", "DB_PASSWORD", sealed)


def test_given_another_key_when_opened_then_refused_without_showing_the_value() -> None:
    sealed = SecretBox(new_key()).seal("shop", "API_TOKEN", VALUE)

    with pytest.raises(SecretUnreadable) as refused:
        SecretBox(new_key()).open("shop", "API_TOKEN", sealed)

    assert "PITMASTER_SECRETS_KEY" in str(refused.value)
    assert VALUE not in str(refused.value)


def test_given_tampered_sealed_text_when_opened_then_refused() -> None:
    box = SecretBox(new_key())
    sealed = box.seal("shop", "API_TOKEN", VALUE)
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]

    with pytest.raises(SecretUnreadable):
        box.open("shop", "API_TOKEN", tampered)


def test_given_a_new_key_before_the_old_when_resealed_then_only_the_new_key_is_needed() -> None:
    old, new = new_key(), new_key()
    sealed = SecretBox(old).seal("shop", "API_TOKEN", VALUE)
    rotating = SecretBox(f"{new},{old}")

    assert rotating.open("shop", "API_TOKEN", sealed) == VALUE  # old secrets keep working
    resealed = rotating.reseal(sealed)

    assert SecretBox(new).open("shop", "API_TOKEN", resealed) == VALUE
    with pytest.raises(SecretUnreadable):
        SecretBox(old).open("shop", "API_TOKEN", resealed)


def test_given_no_key_then_no_box_and_requiring_one_says_how_to_set_it() -> None:
    assert secret_box(None) is None
    assert secret_box("  ") is None

    with pytest.raises(SecretsUnavailable) as unavailable:
        require_box(None)

    assert unavailable.value.http_status == 503
    assert "PITMASTER_SECRETS_KEY" in str(unavailable.value)
    assert "pitmaster secrets new-key" in str(unavailable.value)


def test_given_a_malformed_key_when_parsed_then_the_error_does_not_repeat_it() -> None:
    bad = "not-a-key-but-close-to-one"

    with pytest.raises(ValueError, match="key 2 of PITMASTER_SECRETS_KEY") as refused:
        parse_keys(f"{new_key()},{bad}")
    assert bad not in str(refused.value)

    with pytest.raises(ValidationError) as invalid:
        Settings.model_validate({"secrets_key": bad})
    assert bad not in str(invalid.value)


def test_given_a_key_in_the_settings_then_it_is_hidden_when_shown() -> None:
    key = new_key()
    settings = Settings.model_validate({"secrets_key": key})

    assert settings.secrets_keys == key
    assert key not in repr(settings) and key not in str(settings)
    assert key not in repr(SecretBox(key))
