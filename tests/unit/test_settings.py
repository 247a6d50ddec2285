"""Settings are checked when built, from the environment or directly: a secret or token that cannot
work is refused at start without being said back, and every number keeps its range."""

from __future__ import annotations

import pytest

from paymock.settings import PostgresSettings, Settings, SettingsError


@pytest.mark.parametrize(
    ("variable", "value", "credential"),
    [
        ("PAYMENT_WEBHOOK_SECRET", "whsec_not base64!", "not base64!"),  # the part after the prefix
        ("PAYMENT_WEBHOOK_SECRET", "whsec_", ""),
        ("SERVICE_AUTH_TOKEN", "tok€", "tok€"),
        ("SERVICE_AUTH_TOKEN", "a b", "a b"),
    ],
)
def test_a_secret_or_token_that_cannot_work_is_refused_without_echoing_it(variable, value, credential) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({variable: value})
    message = str(info.value)
    assert variable in message
    # a credential in a log line is a leak
    assert not credential or (credential not in message and repr(credential) not in message), message


def test_whsec_secret_that_decodes_is_accepted() -> None:
    settings = Settings.from_env({"PAYMENT_WEBHOOK_SECRET": "whsec_YWJj"})
    assert settings.webhook_secret == "whsec_YWJj" and settings.secret_from_env


def test_auth_token_of_visible_ascii_punctuation_is_accepted() -> None:
    # the characters of base64, base64url and JWTs all pass
    assert Settings.from_env({"SERVICE_AUTH_TOKEN": "abc.DEF-_~+/="}).auth_token == "abc.DEF-_~+/="


@pytest.mark.parametrize("fields", [{"webhook_secret": "whsec_a"}, {"auth_token": "tok€"}])
def test_settings_built_directly_are_checked_too(fields: dict[str, str]) -> None:
    # the pytest plugin and embedders construct Settings without from_env: a secret that cannot sign
    # used to fail every create after storing the payment
    with pytest.raises(SettingsError):
        Settings(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "variable"),
    [({"time_scale": 0}, "PAYMOCK_TIME_SCALE"), ({"webhook_timeout_s": -1}, "PAYMOCK_WEBHOOK_TIMEOUT"),
     ({"max_in_flight": 0}, "PAYMOCK_MAX_IN_FLIGHT")],
)  # fmt: skip
def test_settings_built_directly_keep_their_ranges(fields: dict[str, float], variable: str) -> None:
    # the plugin's --paymock-time-scale=0 made every create a 500 (a division by the scale)
    with pytest.raises(SettingsError, match=variable):
        Settings(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PAYMOCK_PG_STATEMENT_TIMEOUT", "soon", "expected a number"),
        ("PAYMOCK_PG_STATEMENT_TIMEOUT", "0", "expected a number from 0.1 to 3600"),
        ("PAYMOCK_PG_POOL_TIMEOUT", "nan", "expected a number from 0.1 to 600"),
        ("PAYMOCK_PG_POOL_MAX", "0", "expected a number from 1 to 1000"),
    ],
)
def test_a_bad_postgres_setting_is_refused_at_start_naming_it(variable: str, value: str, expected: str) -> None:
    # read with the rest of the settings, whatever the store: a typo is found before a database is needed
    with pytest.raises(SettingsError, match=f"{variable}={value!r}: {expected}"):
        Settings.from_env({variable: value})


def test_postgres_settings_are_read_with_the_rest_and_kept_in_range_when_built_directly() -> None:
    env = {"PAYMOCK_PG_POOL_TIMEOUT": "0.5", "PAYMOCK_PG_STATEMENT_TIMEOUT": "2", "PAYMOCK_PG_POOL_MAX": "4"}
    assert Settings.from_env(env).postgres == PostgresSettings(pool_timeout_s=0.5, statement_timeout_s=2, pool_max=4)
    with pytest.raises(SettingsError, match="PAYMOCK_PG_POOL_MAX"):
        PostgresSettings(pool_max=0)
