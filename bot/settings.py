"""Settings, read once at the entry point and passed down (DESIGN §7)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.durations import Duration


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and a valid value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True
    )

    slack_bot_token: str | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")
    database_url: str = Field("sqlite:///jitbot.db", validation_alias="JITBOT_DATABASE_URL")
    runbooks_dir: Path = Field(Path("runbooks"), validation_alias="JITBOT_RUNBOOKS_DIR")
    port: int = Field(3000, ge=1, le=65535, validation_alias="JITBOT_PORT")
    request_ttl: Duration = Field(timedelta(minutes=30), validation_alias="JITBOT_REQUEST_TTL")
    aws_region: str = Field(
        "us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("request_ttl")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be longer than zero, e.g. 30m")
        return value


_ENV_NAMES = {
    name: (field.validation_alias if isinstance(field.validation_alias, str) else name.upper())
    for name, field in Settings.model_fields.items()
}


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; raise SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            variable = _ENV_NAMES.get(field, field)
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{variable}={err.get('input')!r}: {message}")
        raise SettingsError("; ".join(lines)) from None
