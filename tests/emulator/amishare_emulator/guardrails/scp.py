"""Service control policies (Organizations user guide "Service control policies (SCPs)" and "SCP
evaluation"; IAM user guide "Policy evaluation logic"):

- SCPs apply when the organization has all features and the SERVICE_CONTROL_POLICY type is enabled
  on its root (Organizations "Enabling and disabling policy types"); moto attaches FullAWSAccess to
  the root and every account, as AWS does.
- They restrict every principal of a member account, including its root user and callers the
  emulator treats as the account's administrator ("SCPs affect all users and roles in attached
  accounts, including the root user"), and the KMS calls a service makes on that principal's
  behalf (the caller's permissions are what EC2 uses).
- They never restrict the management account, nor service-linked roles ("SCPs don't affect
  service-linked roles").
- Each level from the root down to the account (root, every OU on the path, the account) must
  have an attached SCP whose Allow applies; an applicable Deny at any level wins.

Pages: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html,
.../orgs_manage_policies_scps_evaluation.html
"""

from __future__ import annotations

import json
from typing import Any

from ..orgs import _backend_of
from . import SCP, LayerVerdict, evaluate_statements

SLR_MARK = ":role/aws-service-role/"


def _statements(policy: Any) -> list[dict[str, Any]]:
    from ..policy_eval import parse_statements

    try:
        return parse_statements(json.loads(policy.content or "{}")) or []
    except ValueError:
        return []


def policy_type_enabled(backend: Any, policy_type: str) -> bool:
    root = next((ou for ou in backend.ou if ou.id == backend.org.root_id), None)
    return root is not None and any(t.get("Type") == policy_type and t.get("Status") == "ENABLED"
                                    for t in getattr(root, "policy_types", []))


def levels(backend: Any, acc: Any) -> list[tuple[str, list[Any]]]:
    """[(target id, attached policies)] from the root down to the account."""
    by_id = {ou.id: ou for ou in backend.ou}
    chain, parent = [], acc.parent_id
    while parent in by_id:
        chain.append(by_id[parent])
        if parent == backend.org.root_id:
            break
        parent = by_id[parent].parent_id
    return [(t.id, list(t.attached_policies)) for t in reversed(chain)] + [(acc.id, list(acc.attached_policies))]


def applies_to(account: str, principal_arn: str, policy_type: str = "SERVICE_CONTROL_POLICY") -> Any:
    """(backend, account) when policies of `policy_type` restrict `account`'s principal, else None."""
    found = _backend_of(account)
    if found is None:
        return None
    backend, acc = found
    if account == backend.org.master_account_id or SLR_MARK in principal_arn:
        return None
    if getattr(backend.org, "feature_set", "ALL") != "ALL" or not policy_type_enabled(backend, policy_type):
        return None
    return backend, acc


def evaluate(p: Any, action: str, resource: str, ctx: dict[str, Any], network_never: bool) -> LayerVerdict | None:
    found = applies_to(p.account, p.principal_arn)
    if found is None:
        return None
    backend, acc = found
    notes: list[str] = []
    allowed_by: list[str] = []
    missing_level = ""
    for target, pols in levels(backend, acc):
        scps = [(pol.id, _statements(pol)) for pol in pols if pol.type == "SERVICE_CONTROL_POLICY"]
        effect, where, n = evaluate_statements(scps, action, resource, ctx, network_never)
        notes += n
        if effect == "Deny":
            return LayerVerdict(SCP, "Deny", f"{target}:{where}", notes)
        if effect is None and not missing_level:
            missing_level = target
        elif effect == "Allow":
            allowed_by.append(f"{target}:{where}")
    if missing_level:
        return LayerVerdict(SCP, None, f"no SCP attached to {missing_level} allows {action}", notes)
    return LayerVerdict(SCP, "Allow", ", ".join(allowed_by), notes)
