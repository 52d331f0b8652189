"""The fake SSO portal: GetRoleCredentials with a registered bearer token gives credentials of the
role in the account; an unknown token is refused with 401 UnauthorizedException."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
import requests
from conftest import NO_RETRY, REGION, TGT


def _sso(endpoint):
    # the portal API is unsigned (the bearer token authenticates)
    return boto3.client("sso", endpoint_url=endpoint, region_name=REGION, config=NO_RETRY,
                        aws_access_key_id="unused", aws_secret_access_key="unused")


def test_role_credentials_for_a_registered_token(endpoint, aws):
    requests.post(f"{endpoint}/_emulator/sso/tokens", json={"token": "tok-1"}, timeout=10).raise_for_status()
    creds = _sso(endpoint).get_role_credentials(roleName="Deployer", accountId=TGT,
                                                accessToken="tok-1")["roleCredentials"]
    assert creds["accessKeyId"] and creds["secretAccessKey"] and creds["sessionToken"]
    assert creds["expiration"] > 0
    who = aws.client("sts", creds={"AccessKeyId": creds["accessKeyId"], "SecretAccessKey": creds["secretAccessKey"],
                                   "SessionToken": creds["sessionToken"]}).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{TGT}:assumed-role/Deployer/amishare-sso"
    calls = requests.get(f"{endpoint}/_emulator/sso/calls", timeout=10).json()
    assert calls == [{"account_id": TGT, "role_name": "Deployer", "token_known": True}]


def test_an_unknown_token_is_unauthorized(endpoint):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        _sso(endpoint).get_role_credentials(roleName="Deployer", accountId=TGT, accessToken="nope")
    assert e.value.response["Error"]["Code"] == "UnauthorizedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
