"""AWS fixtures: one moto server (server mode, over HTTP) for the whole test session.

`moto_server` points the standard AWS_* variables at it for the session and restores them
afterwards; `orders_table`, `jit_role` and `aws_clients` build on it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from bot.core.aws import AwsClients
from bot.core.catalog import load_catalog
from bot.core.params import bind
from bot.core.queries import RenderedRequest, render
from bot.core.runbooks import Runbook
from bot.demo.seed import TABLE, create_orders_table, seed_orders

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_NAME = "jit-orders-read"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
SEEDED_ORDERS = 300
SHIPPED = load_catalog(Path(__file__).resolve().parents[2] / "runbooks")


def shipped(name: str, **changes: Any) -> Runbook:
    """A shipped runbook, optionally with some fields changed (not re-validated)."""
    runbook = SHIPPED.get(name)
    assert runbook is not None, name
    return runbook.model_copy(update=changes) if changes else runbook


def rendered(runbook: Runbook, **values: str) -> RenderedRequest:
    return render(bind(runbook, values, "tests"), REGION)


class RequestSpy:
    """Records every HTTP request a botocore client is about to send."""

    def __init__(self, client: Any) -> None:
        self.sent: list[str] = []
        client.meta.events.register("before-send", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target") or request.url
        self.sent.append(target.decode() if isinstance(target, bytes) else target)


@dataclass(frozen=True)
class MotoServer:
    url: str

    def client(self, service: str, **kwargs: object):
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, **kwargs)

    @contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Make moto check callers' IAM permissions (it never evaluates session policies)."""
        previous = requests.post(f"{self.url}/moto-api/reset-auth", data=b"0", timeout=5)
        try:
            yield
        finally:
            requests.post(f"{self.url}/moto-api/reset-auth",
                          data=previous.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"].encode(),
                          timeout=5)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    nowhere = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ENDPOINT_URL", url)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        # Never read the developer's own AWS config or credentials.
        env.setenv("AWS_CONFIG_FILE", str(nowhere))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        try:
            yield MotoServer(url)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def orders_table(moto_server: MotoServer) -> str:
    client = moto_server.client("dynamodb")
    create_orders_table(client)
    seed_orders(client, SEEDED_ORDERS)
    return TABLE


@pytest.fixture(scope="session")
def jit_role(moto_server: MotoServer) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
        }],
    }
    read = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            "Resource": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}",
                         f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/index/*"],
        }],
    }
    iam = moto_server.client("iam")
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust),
                    MaxSessionDuration=43_200)
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="orders-read",
                        PolicyDocument=json.dumps(read))
    return ROLE_ARN


@pytest.fixture(scope="session")
def aws_clients(moto_server: MotoServer) -> AwsClients:
    return AwsClients(REGION, endpoint_url=moto_server.url)
