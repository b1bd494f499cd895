"""One duration parser everywhere; settings read exactly DESIGN §7's names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.durations import format_duration, parse_duration
from bot.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h30m", 5400), ("900s", 900), ("2h", 7200), ("1d", 86400), (" 45S ", 45)],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "15 minutes", "-5m", "1m1h"])
def test_bad_durations_say_what_is_valid(text: str) -> None:
    with pytest.raises(ValueError, match="duration such as 90s, 15m, 1h30m"):
        parse_duration(text)


def test_format_round_trips() -> None:
    for text in ["15m", "1h30m", "45s", "1d2h"]:
        assert format_duration(parse_duration(text)) == text


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["JITBOT_DATABASE_URL", "JITBOT_RUNBOOKS_DIR", "JITBOT_PORT", "JITBOT_REQUEST_TTL",
                 "SLACK_API_URL", "SLACK_APP_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"]:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///jitbot.db"
    assert str(settings.runbooks_dir) == "runbooks"
    assert settings.port == 3000
    assert settings.request_ttl == timedelta(minutes=30)
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.slack_app_token is None


def test_settings_read_design_names(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_API_URL": "http://127.0.0.1:9/api", "JITBOT_DATABASE_URL": "sqlite:///x.db",
        "JITBOT_RUNBOOKS_DIR": "rb", "JITBOT_PORT": "8080", "JITBOT_REQUEST_TTL": "1h30m",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert (settings.slack_bot_token, settings.slack_signing_secret) == ("xoxb-1", "s")
    assert settings.slack_app_token == "xapp-1"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert (settings.database_url, str(settings.runbooks_dir)) == ("sqlite:///x.db", "rb")
    assert settings.port == 8080
    assert settings.request_ttl == timedelta(hours=1, minutes=30)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [("JITBOT_REQUEST_TTL", "soon", "JITBOT_REQUEST_TTL='soon'"),
     ("JITBOT_REQUEST_TTL", "0s", "longer than zero"),
     ("JITBOT_PORT", "http", "JITBOT_PORT='http'"),
     ("JITBOT_PORT", "70000", "JITBOT_PORT")],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=needle.replace("(", r"\(")):
        load_settings()
