"""One emulator per test session (started with tests/emulator/start); state reset before each test."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

HERE = Path(__file__).resolve().parent
EMU = HERE.parent
sys.path.insert(0, str(EMU))

from amishare_emulator import seed as seed_mod  # noqa: E402

SRC = "111122223333"
TGT = "444455556666"
REGION = "us-east-1"
PENDING = 0.6  # seconds; the session server's pending time (tests wait ~PENDING+0.2)

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def start_server(*args: str) -> dict[str, Any]:
    t = time.time()
    out = subprocess.run([str(EMU / "start"), *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stdout
    info = json.loads(lines[0])
    info["_start_seconds"] = time.time() - t
    return info


def stop_server(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def server() -> Any:
    info = start_server("--pending-seconds", str(PENDING))
    yield info
    stop_server(info["pid"])


@pytest.fixture(scope="session")
def endpoint(server: dict[str, Any]) -> str:
    return server["endpoint"]


class Ctl:
    def __init__(self, endpoint: str):
        self.ep = endpoint

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(self.ep + "/_emulator" + path, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = requests.post(self.ep + "/_emulator" + path, json=body if body is not None else {}, timeout=10)
        r.raise_for_status()
        return r.json()

    def delete(self, path: str) -> Any:
        r = requests.delete(self.ep + "/_emulator" + path, timeout=10)
        r.raise_for_status()
        return r.json()


@pytest.fixture
def ctl(endpoint: str) -> Ctl:
    return Ctl(endpoint)


@pytest.fixture(autouse=True)
def _reset(endpoint: str) -> None:
    requests.post(endpoint + "/_emulator/reset", timeout=10).raise_for_status()


class Aws:
    """boto3 clients per account (x-moto-account-id header) or per credentials."""

    def __init__(self, endpoint: str):
        self.ep = endpoint

    def client(self, service: str, account: str = SRC, region: str = REGION, config: Config | None = None,
               creds: dict[str, str] | None = None) -> Any:
        kw: dict[str, Any] = {"endpoint_url": self.ep, "region_name": region, "config": config or NO_RETRY}
        if creds:
            kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"])
        else:
            kw.update(aws_access_key_id="testing", aws_secret_access_key="testing")
        c = boto3.client(service, **kw)
        if not creds:
            c.meta.events.register("before-sign.*.*",
                                   lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
        return c

    def assume(self, role_arn: str, session: str = "test") -> dict[str, str]:
        sts = self.client("sts")
        return sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]

    def as_role(self, service: str, role_arn: str, region: str = REGION, session: str = "test",
                config: Config | None = None) -> Any:
        return self.client(service, region=region, creds=self.assume(role_arn, session), config=config)


@pytest.fixture
def aws(endpoint: str) -> Aws:
    return Aws(endpoint)


@pytest.fixture
def seed(endpoint: str) -> Any:
    def _seed(**flags: Any) -> dict[str, Any]:
        ns = argparse.Namespace(endpoint=endpoint, source_account=SRC, target_account=TGT, region=REGION,
                                snapshots=1, with_aws_managed=False, with_unencrypted=False,
                                with_target_key=False, share=False, key_allows_target=False,
                                name_prefix="amishare", ec2_user=None, launcher_role=False,
                                target_key_default=False, org_ou_accounts=0, org_nested=False,
                                org_suspended=0)
        for k, v in flags.items():
            setattr(ns, k, v)
        return seed_mod.seed(ns)

    return _seed


def wait_past_pending(extra: float = 0.25) -> None:
    time.sleep(PENDING + extra)
