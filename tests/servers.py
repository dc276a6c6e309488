"""Real local servers for tests and the demo: a moto_server process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

REGION = "us-east-1"


def dynamodb_client(url: str, config: Any = None) -> Any:
    """A boto3 DynamoDB client on a local endpoint, with dummy credentials."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def assumed_client(url: str, role_arn: str, region: str = REGION, service: str = "dynamodb") -> Any:
    """A client (DynamoDB by default) acting in the role's account, through a real STS
    AssumeRole."""
    sts = boto3.client("sts", endpoint_url=url, region_name=region, **_KEYS)
    found = sts.assume_role(RoleArn=role_arn, RoleSessionName="arrange")["Credentials"]
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=found["AccessKeyId"],
        aws_secret_access_key=found["SecretAccessKey"],
        aws_session_token=found["SessionToken"],
    )


def organization_members(url: str, count: int) -> list[str]:
    """A new AWS Organization with `count` member accounts, made by Organizations itself."""
    organizations = boto3.client("organizations", endpoint_url=url, region_name=REGION, **_KEYS)
    organizations.create_organization(FeatureSet="ALL")
    return [
        organizations.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")[
            "CreateAccountStatus"
        ]["AccountId"]
        for i in range(count)
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aws_env(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """Environment for a boto3 process that must talk to `endpoint_url` and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_DEFAULT_REGION=region,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        """Drop every table (moto's reset API), so each test starts from an empty account."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"moto_server did not answer on {url} within {timeout}s")


@contextmanager
def moto_server(extra_env: Mapping[str, str] | None = None) -> Iterator[MotoServer]:
    """Start `moto_server` on 127.0.0.1 and a free port; stop it on exit."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield MotoServer(url=url, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
