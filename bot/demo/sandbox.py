"""A local AWS for the demo: moto in server mode with the `orders` table and the roles
the runbooks assume.

The bot reaches it the way it reaches real AWS, through the standard AWS_* variables
(`environment()`), so nothing in the bot knows it is talking to moto. Those variables also
point the AWS config and credential files at a file that does not exist: the demo never
reads the person's own AWS profile, let alone calls real AWS with it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bot.demo.seed import INDEX, TABLE, create_orders_table, seed_orders

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account: the sample runbooks' role lives in it
# The bot's own principal in the demo (moto maps any access key to the account root).
BOT_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:root"


def trust_policy(bot_principal: str) -> dict[str, Any]:
    """Who may assume a runbook role: the bot, and only with a source identity and tags."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "JitbotAssumesForApprovedRequests",
            "Effect": "Allow",
            "Principal": {"AWS": bot_principal},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
        }],
    }


def read_policy(region: str, account: str, table: str, index: str) -> dict[str, Any]:
    """The role's ceiling: read-only on one table and its index. Each session policy narrows
    it further to one request's partition key and attributes."""
    table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReadOrdersOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            "Resource": [table_arn, f"{table_arn}/index/{index}"],
        }],
    }


def environment(endpoint_url: str | None, folder: Path) -> dict[str, str]:
    """AWS_* variables that send every boto3 client to `endpoint_url` with dummy keys."""
    nowhere = str(folder / "no-aws-config")
    return {
        **({"AWS_ENDPOINT_URL": endpoint_url} if endpoint_url else {}),
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": nowhere,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


# Variables from the person's shell that would send the bot somewhere else.
FOREIGN_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                         "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI")


class AwsSandbox:
    """moto on a free loopback port; `start()` creates and seeds everything."""

    def __init__(self, role_arns: Iterable[str], orders: int = 300) -> None:
        self.role_arns = sorted(set(role_arns))
        self.orders = orders
        self.seeded = 0
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._running = False
        self.url = ""

    def start(self) -> AwsSandbox:
        # moto's werkzeug logs every request at INFO; the demo's screen is for Slack
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        self._running = True
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        dynamodb = self.client("dynamodb")
        create_orders_table(dynamodb)
        self.seeded = seed_orders(dynamodb, self.orders)
        iam = self.client("iam")
        for arn in self.role_arns:
            name = arn.rsplit("/", 1)[-1]
            iam.create_role(RoleName=name, MaxSessionDuration=43_200,
                            AssumeRolePolicyDocument=json.dumps(trust_policy(BOT_PRINCIPAL)))
            iam.put_role_policy(RoleName=name, PolicyName="orders-read", PolicyDocument=json.dumps(
                read_policy(REGION, ACCOUNT, TABLE, INDEX)))
        return self

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="demo", aws_secret_access_key="demo")

    def stop(self) -> None:
        if self._running:
            self._server.stop()
            self._running = False
