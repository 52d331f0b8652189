"""Who is calling: account (resolved exactly as moto does), principal ARN and CloudTrail userIdentity."""

from __future__ import annotations

import os
import re
from typing import Any

from .state import Caller, CallerKind

_CRED_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_principal_id_cache: dict[str, str] = {}


def parse_auth(environ: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(access_key, region, service) from a SigV4 Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "") or ""
    m = _CRED_RE.search(auth)
    if not m:
        return None, None, None
    return m.group(1), m.group(3), m.group(4)


def resolve_account(environ: dict[str, Any], access_key: str | None) -> str:
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    hdr = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if hdr:
        return hdr
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key or "AKIAEXAMPLE")


def _find_assumed_role(access_key: str) -> Any:
    from moto.sts.models import sts_backends

    for _acct, per_region in list(sts_backends.items()):
        for _region, backend in list(per_region.items()):
            for ar in list(getattr(backend, "assumed_roles", [])):
                if ar.access_key_id == access_key:
                    return ar
    return None


def _find_user(account: str, access_key: str) -> Any:
    from moto.iam.models import iam_backends

    try:
        backend = iam_backends[account]["aws"]
    except Exception:
        return None
    if access_key not in getattr(backend, "access_keys", {}):
        return None
    try:
        return backend.get_user_from_access_key_id(access_key)
    except Exception:
        return None


def resolve_caller(environ: dict[str, Any]) -> Caller:
    access_key, region, _service = parse_auth(environ)
    access_key = access_key or "AKIAEXAMPLE"
    account = resolve_account(environ, access_key)
    region = region or "us-east-1"
    src_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
    ua = environ.get("HTTP_USER_AGENT", "")
    ar = _find_assumed_role(access_key) if not environ.get("HTTP_X_MOTO_ACCOUNT_ID") else None
    if ar is not None and ar.account_id == account:
        pid = _principal_id_cache.setdefault(access_key, ar.user_id)
        return Caller(
            account=account,
            arn=ar.arn,
            access_key=access_key,
            kind=CallerKind.ASSUMED_ROLE,
            principal_id=pid,
            role_arn=ar.role_arn,
            user_name=ar.role_arn.split("/")[-1],
            region=region,
            source_ip=src_ip,
            user_agent=ua,
        )
    user = _find_user(account, access_key)
    if user is not None:
        return Caller(
            account=account,
            arn=user.arn,
            access_key=access_key,
            kind=CallerKind.IAM_USER,
            principal_id=user.id,
            user_name=user.name,
            region=region,
            source_ip=src_ip,
            user_agent=ua,
        )
    # moto's default identity for credentials it did not issue (GetCallerIdentity shows the same ARN)
    return Caller(
        account=account,
        arn=f"arn:aws:sts::{account}:user/moto",
        access_key=access_key,
        kind=CallerKind.IAM_USER,
        principal_id="AKIAIOSFODNN7EXAMPLE",
        user_name="moto",
        region=region,
        source_ip=src_ip,
        user_agent=ua,
    )


def user_identity(caller: Caller) -> dict[str, Any]:
    ui: dict[str, Any] = {
        "type": caller.kind,
        "principalId": caller.principal_id,
        "arn": caller.arn,
        "accountId": caller.account,
        "accessKeyId": caller.access_key,
    }
    if caller.kind is CallerKind.ASSUMED_ROLE:
        ui["sessionContext"] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": caller.principal_id.split(":")[0],
                "arn": caller.role_arn,
                "accountId": caller.account,
                "userName": caller.user_name,
            },
            "attributes": {"mfaAuthenticated": "false"},
        }
    else:
        ui["userName"] = caller.user_name
    return ui


def username(caller: Caller) -> str:
    if caller.kind is CallerKind.ASSUMED_ROLE:
        return caller.arn.split("/")[-1]  # session name, as CloudTrail shows it
    return caller.user_name or ""
