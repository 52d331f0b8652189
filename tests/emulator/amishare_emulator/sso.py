"""A fake IAM Identity Center (SSO) portal: `GetRoleCredentials` (SSO portal API reference:
`GET /federation/credentials?account_id=&role_name=` with the header `x-amz-sso_bearer_token`),
enough for the SDKs' SSO credential provider with a cached token (`aws sso login` done before).

- Tokens are registered with `POST /_emulator/sso/tokens {"token": T}` (the test writes the same
  token to the SDK's cache file); an unknown token answers 401 `UnauthorizedException`, as the
  portal does for an expired or revoked session.
- The credentials are STS credentials of the role `role_name` in `account_id` (moto maps them to
  that account), so the caller is `arn:aws:sts::ACCOUNT:assumed-role/ROLE_NAME/amishare-sso`. (AWS
  names the role `AWSReservedSSO_<permission set>_<id>`; the emulator uses `role_name` as given.)
- Every call is listed at `GET /_emulator/sso/calls`.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qs

# werkzeug's server drops request headers with `_` in their name; the SSO portal's token header has
# one, so the emulator's request handler (server.py) keeps it under this WSGI key.
TOKEN_ENVIRON_KEY = "HTTP_X_AMZ_SSO_BEARER_TOKEN"
TOKEN_HEADER = "x-amz-sso_bearer_token"
TOKENS: set[str] = set()
CALLS: list[dict[str, Any]] = []
_LOCK = threading.Lock()
PATH = "/federation/credentials"


def register(token: str) -> None:
    with _LOCK:
        TOKENS.add(token)


def calls() -> list[dict[str, Any]]:
    with _LOCK:
        return list(CALLS)


def reset() -> None:
    with _LOCK:
        TOKENS.clear()
        CALLS.clear()


def _answer(start_response: Callable, status: int, body: dict[str, Any], error: str | None = None) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if error:
        headers.append(("x-amzn-ErrorType", error))
    start_response(f"{status} {'OK' if status == 200 else 'ERROR'}", headers)
    return [data]


def get_role_credentials(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    from moto.sts.models import sts_backends

    qs = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    token = environ.get(TOKEN_ENVIRON_KEY, "")
    account, role = qs.get("account_id", ""), qs.get("role_name", "")
    with _LOCK:
        known = token in TOKENS
        CALLS.append({"account_id": account, "role_name": role, "token_known": known})
    if not known:
        return _answer(start_response, 401, {"message": "Session token not found or invalid"},
                       "UnauthorizedException")
    if not (len(account) == 12 and account.isdigit() and role):
        return _answer(start_response, 400, {"message": "account_id and role_name are required"},
                       "InvalidRequestException")
    assumed = sts_backends[account]["aws"].assume_role(
        region_name="us-east-1", role_session_name="amishare-sso",
        role_arn=f"arn:aws:iam::{account}:role/{role}", policy=None, duration=3600, external_id=None)
    return _answer(start_response, 200, {"roleCredentials": {
        "accessKeyId": assumed.access_key_id,
        "secretAccessKey": assumed.secret_access_key,
        "sessionToken": assumed.session_token,
        "expiration": int((time.time() + 3600) * 1000),
    }})
