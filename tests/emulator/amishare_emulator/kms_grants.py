"""KMS grants across accounts (KMS Developer Guide "grants", "grant-manage"; API reference for
CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant):

- CreateGrant / ListGrants / RevokeGrant: on the key (key id or ARN; another account's key by ARN),
  authorised like any KMS call by kms_patches (key policy + identity policy + grants).
- ListRetirableGrants: the retiring principal must be in the caller's account; returns grants on keys
  of any account in the region whose RetiringPrincipal is that principal; needs only
  kms:ListRetirableGrants in the caller's identity policies.
- RetireGrant (by GrantToken, or KeyId + GrantId, keys of any account): allowed to the grant's
  retiring principal, to its grantee when the grant's operations include RetireGrant, and to the
  account that created the grant (its root/administrator); else AccessDeniedException.
- Grants carry the key ARN (KeyId), IssuingAccount and CreationDate as AWS shows them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms.models import Grant, Key, kms_backends
from moto.kms.responses import KmsResponse

from . import identity
from .policy_eval import principal_value_matches
from .state import current_caller, record_decision

_orig_add_grant = Key.add_grant


def _add_grant(self: Key, name: str, grantee_principal: str, operations: list[str], constraints: dict[str, Any],
               retiring_principal: str) -> Grant:
    grant = _orig_add_grant(self, name, grantee_principal, operations, constraints, retiring_principal)
    caller = current_caller()
    grant.key_id = self.arn
    grant.__dict__["_emu_issuing_account"] = caller.account if caller else self.account_id
    grant.__dict__["_emu_created"] = time.time()
    return grant


def _grant_json(self: Grant) -> dict[str, Any]:
    out = {"KeyId": self.key_id, "GrantId": self.id, "GranteePrincipal": self.grantee_principal,
           "Operations": self.operations,
           "IssuingAccount": f"arn:aws:iam::{self.__dict__.get('_emu_issuing_account', '')}:root",
           "CreationDate": self.__dict__.get("_emu_created", time.time())}
    if self.name:
        out["Name"] = self.name
    if self.retiring_principal:
        out["RetiringPrincipal"] = self.retiring_principal
    if self.constraints:
        out["Constraints"] = self.constraints
    return out


def _all_keys(region: str) -> list[Key]:
    out: list[Key] = []
    for acct in list(kms_backends.keys()):
        per = kms_backends[acct]
        if region in list(per.keys()):
            out.extend(list(per[region].keys.values()))
    return out


def _caller(resp: KmsResponse) -> tuple[str, str]:
    c = current_caller()
    return (c.arn if c else f"arn:aws:iam::{resp.current_account}:root"), resp.current_account


def list_retirable_grants(self: KmsResponse) -> str:
    principal = self._get_param("RetiringPrincipal") or ""
    caller_arn, account = _caller(self)
    if f"::{account}:" not in principal:
        raise JsonRESTError("AccessDeniedException",
                            f"User: {caller_arn} is not authorized to perform: kms:ListRetirableGrants: "
                            "the retiring principal must be in your account")
    p = identity.resolve(caller_arn, account)
    verdict = identity.evaluate_identity(p, "kms:ListRetirableGrants", principal,
                                         identity.principal_context(p), False)
    record_decision({"operation": "kms:list_retirable_grants", "resource": principal, "caller": caller_arn,
                     "caller_account": account,
                     "key": None, "allowed": verdict.effect == "Allow", "decided_by": "identity policy",
                     "statement": verdict.statement, "reasons": verdict.notes})
    if verdict.effect != "Allow":
        raise JsonRESTError("AccessDeniedException",
                            f"User: {caller_arn} is not authorized to perform: kms:ListRetirableGrants on "
                            f"resource: {principal} because no identity-based policy allows the "
                            "kms:ListRetirableGrants action")
    grants = [g for k in _all_keys(self.region) for g in k.grants.values() if g.retiring_principal == principal]
    return json.dumps({"Grants": [g.to_json() for g in grants], "Truncated": False})


def _may_retire(grant: Grant, caller_arn: str, account: str) -> bool:
    if grant.retiring_principal and principal_value_matches(grant.retiring_principal, caller_arn, account):
        if not grant.retiring_principal.endswith(":root") or identity.resolve(caller_arn, account).unrestricted:
            return True
    if "RetireGrant" in (grant.operations or []) and principal_value_matches(grant.grantee_principal,
                                                                             caller_arn, account):
        return True
    issuer = grant.__dict__.get("_emu_issuing_account")
    return issuer == account and identity.resolve(caller_arn, account).unrestricted


def retire_grant(self: KmsResponse) -> str:
    token, key_ref, grant_id = (self._get_param("GrantToken"), self._get_param("KeyId"),
                                self._get_param("GrantId"))
    caller_arn, account = _caller(self)
    found: tuple[Key, Grant] | None = None
    for k in _all_keys(self.region):
        if key_ref and key_ref not in (k.arn, k.id) and not (k.account_id == account and key_ref in k.aliases):
            continue
        for g in k.grants.values():
            if (token and g.token == token) or (grant_id and g.id == grant_id):
                found = (k, g)
    if found is None:
        raise JsonRESTError("NotFoundException", "Grant not found")
    key, grant = found
    if not _may_retire(grant, caller_arn, account):
        raise JsonRESTError("AccessDeniedException",
                            f"User: {caller_arn} is not authorized to perform: kms:RetireGrant on resource: "
                            f"{key.arn}: only the grant's retiring principal, its grantee (with RetireGrant) "
                            "or the account that created it may retire it")
    key.grants.pop(grant.id, None)
    return "{}"


def apply() -> None:
    Key.add_grant = _add_grant  # type: ignore[assignment]
    Grant.to_json = _grant_json  # type: ignore[assignment]
    KmsResponse.list_retirable_grants = list_retirable_grants  # type: ignore[assignment]
    KmsResponse.retire_grant = retire_grant  # type: ignore[assignment]
