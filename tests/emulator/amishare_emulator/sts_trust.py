"""STS AssumeRole honours the role's trust policy (moto lets anyone assume any role ARN).

AWS (IAM user guide "Policy evaluation logic" / "Cross-account policy evaluation logic", "How
IAM roles differ from resource-based policies"; STS API reference "AssumeRole"):
- the role's trust policy (a resource-based policy) must allow `sts:AssumeRole` for the caller;
  an explicit Deny in it, or in the caller's identity policies, wins;
- same account: a trust statement naming the caller itself (its user ARN, or the role of its
  session) is enough; one naming only the account (`ACCT` / `arn:aws:iam::ACCT:root`) delegates to
  the caller's IAM, which must allow `sts:AssumeRole` on the role;
- another account: the trust policy must name the caller or its account AND the caller's identity
  policies must allow `sts:AssumeRole` on the role.
Denied: `AccessDenied`, "User: CALLER is not authorized to perform: sts:AssumeRole on resource:
ROLE" (HTTP 403).

Who is checked: callers that are IAM entities (an IAM user, a session of a role that exists in the
emulator's IAM). Administrator identities (moto's default `user/moto`, a root, a session of a role
the emulator's IAM does not hold, see the README) and roles that do not exist keep moto's
behaviour, as everywhere else in the emulator.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.sts.exceptions import STSClientError
from moto.sts.models import STSBackend

from . import identity, state
from .guardrails import SCP, principal_layers, session
from .policy_eval import (
    condition_holds_for_allow, condition_holds_for_deny, matching_principal_values, parse_statements,
    principal_tuple, statement_action_matches,
)

_orig_assume_role = STSBackend.assume_role


class AccessDenied(STSClientError):
    code = "AccessDenied"

    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


def _role(role_arn: str) -> Any:
    from moto.iam.models import iam_backends

    t = principal_tuple(role_arn)
    if t is None or t[0] != "role":
        return None
    try:
        iam = iam_backends[t[1]]["aws"]
    except KeyError:
        return None
    return next((r for r in list(iam.roles.values()) if r.arn == role_arn or r.name == t[2]), None)


def _trust_statements(role: Any) -> list[dict[str, Any]]:
    doc = role.assume_role_policy_document
    if isinstance(doc, str):
        try:
            doc = json.loads(unquote(doc)) if doc.lstrip().startswith("%") else json.loads(doc)
        except ValueError:
            return []
    return parse_statements(doc) or []


def trust_decision(caller_arn: str, caller_account: str, role_arn: str, role: Any,
                   ctx: dict[str, Any]) -> tuple[str, bool]:
    """("deny" | "allow" | "none", named): the trust policy's answer for the caller, and whether
    an Allow named the caller itself (not only its account)."""
    decision, named = "none", False
    for s in _trust_statements(role):
        if not statement_action_matches(s, "sts:AssumeRole"):
            continue
        hits = matching_principal_values(s, caller_arn, caller_account)
        if hits is None:
            continue
        effect = str(s.get("Effect", "")).lower()
        cond = s.get("Condition") or {}
        if effect == "deny" and condition_holds_for_deny(cond, ctx, False):
            return "deny", False
        if effect == "allow" and condition_holds_for_allow(cond, ctx, False)[0]:
            decision = "allow"
            from .policy_eval import is_account_value

            named = named or any(not is_account_value(h) and h != "*" for h in hits)
    return decision, named


def check_assume_role(role_arn: str, external_id: str | None) -> None:
    caller = state.current_caller()
    if caller is None:
        return
    role = _role(role_arn)
    if role is None:
        return
    p = identity.resolve(caller.arn, caller.account)
    ctx = identity.principal_context(p)
    if external_id is not None:
        ctx["sts:externalid"] = external_id
    denied = AccessDenied(f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
                          f"{role_arn}")
    # SCPs, boundaries and session policies of the caller (guardrails/): a Deny or a missing SCP Allow
    layers = principal_layers(p, "sts:AssumeRole", role_arn, ctx, False)
    if any(lv.effect == "Deny" or (lv.layer == SCP and lv.effect is None) for lv in layers):
        raise denied
    if p.unrestricted:
        return
    trust, named = trust_decision(caller.arn, caller.account, role_arn, role, ctx)
    if trust != "allow":
        raise denied
    same_account = principal_tuple(role_arn)[1] == caller.account  # type: ignore[index]
    verdict = identity.evaluate_identity(p, "sts:AssumeRole", role_arn, ctx, False)
    if verdict.effect == "Deny":
        raise denied
    if verdict.effect != "Allow" and not (same_account and named):
        raise denied
    if verdict.effect == "Allow" and any(lv.effect is None for lv in layers):  # a boundary/session cap
        raise denied


def assume_role(self: STSBackend, region_name: str, role_session_name: str, role_arn: str, policy: str,
                duration: int, external_id: str) -> Any:
    check_assume_role(role_arn, external_id)
    ar = _orig_assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id)
    # session policies stay with the session (guardrails/session.py)
    t = principal_tuple(role_arn)
    arns = session.policy_arns_of_request(state.request_params())
    session.remember(ar.access_key_id, t[1] if t else "", policy or None, arns)
    return ar


def apply() -> None:
    STSBackend.assume_role = assume_role  # type: ignore[method-assign]
