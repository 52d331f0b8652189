"""Permissions boundaries (IAM user guide "Permissions boundaries for IAM entities"): the managed
policy set as a role's boundary (CreateRole `PermissionsBoundary`, PutRolePermissionsBoundary)
caps what its identity policies can allow: the effective permissions are the intersection, and a
Deny in the boundary wins. Resource-based policies naming the role ARN are limited by an implicit
deny in the boundary; naming the role session ARN (or an IAM user ARN) they are not (the guide's
"Evaluating effective permissions with boundaries"). Service-linked roles have none.

moto 5.2.1 keeps a role's boundary ARN (`permissions_boundary_arn`) but has no user boundaries
(PutUserPermissionsBoundary is not implemented): users' boundaries are not modelled.
"""

from __future__ import annotations

import json
from typing import Any

from . import BOUNDARY, LayerVerdict, evaluate_statements


def boundary_policy(account: str, arn: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(policy name, statements) of the boundary policy `arn` (default version), None if missing."""
    from moto.iam.models import iam_backends

    from ..policy_eval import parse_statements

    try:
        iam = iam_backends[account]["aws"]
    except KeyError:
        return None
    pol = iam.managed_policies.get(arn)
    if pol is None:
        try:
            pol = iam.get_policy(arn)
        except Exception:
            return None
    doc = next((v.document for v in getattr(pol, "versions", []) if getattr(v, "is_default", False)), None)
    try:
        stmts = parse_statements(json.loads(doc) if isinstance(doc, str) else doc) or []
    except ValueError:
        stmts = []
    return pol.name, stmts


def evaluate(p: Any, action: str, resource: str, ctx: dict[str, Any], network_never: bool) -> LayerVerdict | None:
    arn = getattr(p, "boundary_arn", None)
    if not arn:
        return None
    pol = boundary_policy(p.account, arn)
    if pol is None:  # a boundary naming a policy that does not exist allows nothing
        return LayerVerdict(BOUNDARY, None, f"boundary policy {arn} does not exist")
    effect, where, notes = evaluate_statements([pol], action, resource, ctx, network_never)
    return LayerVerdict(BOUNDARY, effect, where or f"{pol[0]} does not allow {action}", notes)
