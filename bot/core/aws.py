"""The one place that builds boto3 clients.

The bot's own identity comes from the standard AWS chain (AWS_PROFILE, AWS_ACCESS_KEY_ID,
instance or task role...). With no explicit endpoint, botocore itself honours
AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, which is how tests and the demo point
everything at a local moto server. Every client uses standard retries and bounded timeouts.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from bot.core.scope_guard import ScopeGuard

if TYPE_CHECKING:
    from bot.core.grants import Grant

# botocore's DEBUG records carry request signatures (with the session token) and response
# bodies (with STS credentials and query results). A root logger set to DEBUG must not
# pull those in, so these loggers never go below INFO unless someone sets them explicitly.
_TALKATIVE = ("botocore", "boto3", "urllib3")


def _quiet_sdk_logs() -> None:
    for name in _TALKATIVE:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


class AwsClients:
    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        *,
        max_attempts: int = 3,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        _quiet_sdk_logs()
        self.region = region
        self.endpoint_url = endpoint_url or None
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        # One session for the process: creating clients from a warm session is cheap, but
        # boto3 sessions are not thread-safe, so client creation is serialized.
        self._session = boto3.session.Session(region_name=region)
        self._lock = threading.Lock()
        self._sts: Any = None

    def sts(self) -> Any:
        """An STS client with the bot's own principal."""
        with self._lock:
            if self._sts is None:
                self._sts = self._session.client(
                    "sts", region_name=self.region, endpoint_url=self.endpoint_url,
                    config=self._config)
            return self._sts

    def dynamodb_for(self, grant: Grant) -> Any:
        """A low-level DynamoDB client using the grant's credentials, scope guard installed."""
        with self._lock:
            client = self._session.client(
                "dynamodb",
                region_name=grant.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=grant.access_key_id,
                aws_secret_access_key=grant.secret_access_key,
                aws_session_token=grant.session_token,
                config=self._config,
            )
        ScopeGuard(grant.scope, grant.partition_key).install(client)
        return client
