"""The repo config's `chat` section: where a repository's incidents are announced (pure)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from app.domain.lifecycle import SEVERE, Severity

# A repository names where its messages go by environment variables of this prefix only, so
# that no repository can have one of the service's own secrets (PRIVATE_KEY) sent anywhere.
CHAT_PREFIX = "CHAT_"
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,99}")
_CHANNEL = re.compile(r"[#@]?[A-Za-z0-9._-]{1,80}")


def _env_name(value: str | None, holding: str) -> str | None:
    """An environment variable's name; never the secret itself, in a file anyone can read."""
    if value is None:
        return None
    # The reasons never repeat the value: it may be a secret pasted by mistake.
    if "://" in value or value.lower().startswith(("hooks.", "http", "www.")):
        raise ValueError(
            f"names the environment variable that holds {holding}, never the URL itself "
            "(anyone who can read the repository could post with it): put the URL in a "
            f"variable such as {CHAT_PREFIX}OPS_SLACK and write its name here"
        )
    if value.startswith("xox"):
        raise ValueError(
            f"names the environment variable that holds {holding}, never the token itself"
        )
    if not _ENV_NAME.fullmatch(value) or not value.startswith(CHAT_PREFIX):
        raise ValueError(
            f"the name of an environment variable starting with {CHAT_PREFIX} (capitals, "
            f"digits and _), e.g. {CHAT_PREFIX}OPS_SLACK"
        )
    return value


class Chat(BaseModel):
    """Names of the environment variables that hold the webhook URLs and the bot token (never
    the secrets themselves), the bot's channel, and the severities chat hears of."""

    # As app.domain.config.Strict: unknown keys are errors, the value is immutable.
    model_config = ConfigDict(extra="forbid", frozen=True)

    slack: str | None = None  # a Slack incoming webhook's URL: one message per change
    slack_token: str | None = None  # a Slack bot token: one message per incident, a thread
    channel: str | None = None  # the bot's channel: "#incidents" or an id, "C0123ABCD"
    webhook: str | None = None  # a generic JSON webhook's URL (Matrix, Discord, Teams bridges)
    severities: tuple[Severity, ...] = tuple(sorted(SEVERE))

    @field_validator("slack", "webhook")
    @classmethod
    def _url_variable(cls, value: str | None) -> str | None:
        return _env_name(value, "the webhook's URL")

    @field_validator("slack_token")
    @classmethod
    def _token_variable(cls, value: str | None) -> str | None:
        return _env_name(value, "the bot token")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL.fullmatch(value):
            raise ValueError('a Slack channel: "#incidents", or its id such as "C0123ABCD"')
        return value

    @model_validator(mode="after")
    def _one_slack(self) -> Chat:
        if self.slack and self.slack_token:
            raise ValueError("`slack` (a webhook) and `slack_token` (a bot) both name Slack")
        if bool(self.slack_token) != bool(self.channel):
            raise ValueError("`slack_token` and `channel` go together: the bot posts there")
        return self

    @property
    def own(self) -> bool:
        """The repository names a channel of its own: the global webhook is not used for it."""
        return bool(self.slack or self.slack_token or self.webhook)
