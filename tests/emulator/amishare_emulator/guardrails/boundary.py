"""Permissions boundaries (IAM user guide "Permissions boundaries for IAM entities"): the managed
policy set as a role's boundary (CreateRole `PermissionsBoundary`, PutRolePermissionsBoundary)
caps what its identity policies can allow: the effective permissions are the intersection, and a
Deny in the boundary wins. Resource-based policies naming the role ARN are limited by an implicit
deny in the boundary; naming the role session ARN (or an IAM user ARN) they are not (the guide's
"Evaluating effective permissions with boundaries"). Service-linked roles have none.

moto 5.2.1 keeps a role's boundary ARN (`permissions_boundary_arn`) but has no user boundaries:
`apply` adds them (CreateUser `PermissionsBoundary`, PutUserPermissionsBoundary,
DeleteUserPermissionsBoundary, GetUser `PermissionsBoundary`), kept on the user as roles keep theirs.

Pages: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
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


def _user_boundary(self: Any) -> dict[str, str] | None:
    arn = self.__dict__.get("permissions_boundary_arn")
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn} if arn else None


def _set_user_boundary(resp: Any, user_name: str, arn: str | None) -> None:
    from moto.iam.exceptions import IAMException as RESTError

    if arn and not resp.backend.policy_arn_regex.match(arn):
        raise RESTError("InvalidParameterValue", f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
    resp.backend.get_user(user_name).__dict__["permissions_boundary_arn"] = arn or None


def apply() -> None:
    from moto.core.responses import EmptyResult
    from moto.iam.models import User
    from moto.iam.responses import IamResponse

    orig_create_user = IamResponse.create_user

    def create_user(self: Any) -> Any:
        arn = self._get_param("PermissionsBoundary")
        if arn and not self.backend.policy_arn_regex.match(arn):
            _set_user_boundary(self, "", arn)  # raises InvalidParameterValue before creating anything
        out = orig_create_user(self)
        if arn:
            _set_user_boundary(self, self._get_param("UserName"), arn)
        return out

    def put_user_permissions_boundary(self: Any) -> Any:
        _set_user_boundary(self, self._get_param("UserName"), self._get_param("PermissionsBoundary"))
        return EmptyResult()

    def delete_user_permissions_boundary(self: Any) -> Any:
        _set_user_boundary(self, self._get_param("UserName"), None)
        return EmptyResult()

    User.permissions_boundary = property(_user_boundary)  # type: ignore[attr-defined]
    IamResponse.create_user = create_user  # type: ignore[method-assign]
    IamResponse.put_user_permissions_boundary = put_user_permissions_boundary  # type: ignore[attr-defined]
    IamResponse.delete_user_permissions_boundary = delete_user_permissions_boundary  # type: ignore[attr-defined]
