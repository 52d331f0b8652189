"""Who a caller is to IAM: its principal ARN, tags, identity policies (managed + inline policies of a
role; of a user plus its groups) and its account's place in the organization. Read from moto's IAM
and Organizations backends at decision time, so a policy attached a moment ago counts.

A caller with no IAM entity (moto's default identity `arn:aws:sts::ACCT:user/moto` for credentials the
emulator did not issue, an account root, or a session of a role that does not exist in the emulator's
IAM — moto lets anyone assume any role ARN) is the account's administrator: its identity policies
allow everything. That is what the credentials of the account owner are on AWS, and what amishare's
end-to-end tests use as the source caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .orgs import org_facts
from .policy_eval import (
    as_list, condition_holds_for_allow, condition_holds_for_deny, parse_statements, principal_tuple, sid_of,
    statement_action_matches, statement_resource_matches,
)

ADMIN_REASON = "no IAM entity (account administrator credentials): identity policies allow everything"


@dataclass
class Principal:
    arn: str                    # the caller's ARN (session ARN for a role)
    account: str
    principal_arn: str          # aws:PrincipalArn (the role's ARN for a session)
    kind: str                   # "role" | "user" | "admin"
    tags: dict[str, str] = field(default_factory=dict)
    policies: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (name, statements)
    org_id: str | None = None
    org_paths: list[str] = field(default_factory=list)
    boundary_arn: str | None = None       # a role's permissions boundary (guardrails/boundary.py)
    session: dict[str, Any] | None = None  # the session policies of an assumed role (guardrails/session.py)

    @property
    def unrestricted(self) -> bool:
        return self.kind == "admin"


@dataclass
class IdentityVerdict:
    effect: str | None          # "Allow" | "Deny" | None (implicit deny)
    statement: str = ""         # "<policy name>/<Sid>" of the deciding statement
    notes: list[str] = field(default_factory=list)


def _iam(account: str) -> Any:
    from moto.iam.models import iam_backends

    if account not in list(iam_backends.keys()):
        return None
    return iam_backends[account]["aws"]


def _doc_statements(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return []
    return parse_statements(doc) or []


def _managed_docs(entity: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for pol in list(getattr(entity, "managed_policies", {}).values()):
        versions = getattr(pol, "versions", [])
        doc = next((v.document for v in versions if getattr(v, "is_default", False)), None)
        out.append((pol.name, _doc_statements(doc)))
    return out


def _inline_docs(entity: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(name, _doc_statements(doc)) for name, doc in list(getattr(entity, "policies", {}).items())]


def _tags(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {k: (v.get("Value") if isinstance(v, dict) else str(v)) for k, v in raw.items()}
    if isinstance(raw, list):
        return {t.get("Key"): t.get("Value") for t in raw if isinstance(t, dict)}
    return {}


def _session_of(caller_arn: str) -> dict[str, Any] | None:
    """The session policies of the current request's session when it is `caller_arn`."""
    from .guardrails import session
    from .state import current_caller

    c = current_caller()
    return session.of(c.access_key) if c is not None and c.arn == caller_arn else None


def resolve(caller_arn: str, account: str) -> Principal:
    """The Principal behind a caller ARN, read from moto's IAM now."""
    p = _resolve(caller_arn, account)
    if p.principal_arn != caller_arn:  # an assumed-role session
        p.session = _session_of(caller_arn)
    return p


def _resolve(caller_arn: str, account: str) -> Principal:
    org_id, paths = org_facts(account)
    kind_tuple = principal_tuple(caller_arn)
    iam = _iam(account)
    if kind_tuple is not None and iam is not None and kind_tuple[0] == "role":
        role = next((r for r in list(iam.roles.values()) if r.name == kind_tuple[2]), None)
        if role is not None:
            return Principal(caller_arn, account, role.arn, "role", _tags(role.tags),
                             _managed_docs(role) + _inline_docs(role), org_id, paths,
                             boundary_arn=getattr(role, "permissions_boundary_arn", None))
        # moto lets anyone assume a role that does not exist; on AWS such credentials can only come
        # from a real role, which the callers mean to be an administrator role: no IAM entity here
        return Principal(caller_arn, account, f"arn:aws:iam::{account}:role/{kind_tuple[2]}", "admin",
                         org_id=org_id, org_paths=paths)
    if kind_tuple is not None and iam is not None and kind_tuple[0] == "user" and caller_arn.startswith("arn:aws:iam:"):
        user = iam.users.get(kind_tuple[2])
        if user is not None:
            docs = _managed_docs(user) + _inline_docs(user)
            for g in iam.get_groups_for_user(user.name):
                docs += [(f"{g.name}:{n}", s) for n, s in _managed_docs(g) + _inline_docs(g)]
            tags = _tags(iam.list_user_tags(user.name)) if hasattr(iam, "list_user_tags") else {}
            return Principal(caller_arn, account, user.arn, "user", tags, docs, org_id, paths,
                             boundary_arn=user.__dict__.get("permissions_boundary_arn"))
        return Principal(caller_arn, account, caller_arn, "user", org_id=org_id, org_paths=paths)
    return Principal(caller_arn, account, caller_arn, "admin", org_id=org_id, org_paths=paths)


def principal_context(p: Principal) -> dict[str, Any]:
    ctx: dict[str, Any] = {"aws:principalarn": p.principal_arn, "aws:principalaccount": p.account,
                           "aws:principalisawsservice": "false",
                           "aws:principaltype": {"role": "AssumedRole", "user": "User"}.get(p.kind, "Account")}
    if p.org_id:
        ctx["aws:principalorgid"] = p.org_id
        ctx["aws:principalorgpaths"] = list(p.org_paths)
    for k, v in p.tags.items():
        ctx[f"aws:principaltag/{str(k).lower()}"] = v
    return ctx


def evaluate_identity(p: Principal, action: str, resource: str, ctx: dict[str, Any],
                      network_never: bool) -> IdentityVerdict:
    """Identity policies of `p` for `action` on `resource`: an explicit Deny wins, then any Allow."""
    if p.unrestricted:
        return IdentityVerdict("Allow", ADMIN_REASON)
    allow, notes = None, []
    for name, stmts in p.policies:
        for i, s in enumerate(stmts):
            if not statement_action_matches(s, action) or not statement_resource_matches(s, resource):
                continue
            where = f"{name}/{sid_of(s, i)}"
            effect = str(s.get("Effect", "")).lower()
            if effect == "deny" and condition_holds_for_deny(s.get("Condition") or {}, ctx, network_never):
                return IdentityVerdict("Deny", where, notes)
            if effect == "allow" and allow is None:
                ok, why = condition_holds_for_allow(s.get("Condition") or {}, ctx, network_never)
                if ok:
                    allow = where
                else:
                    notes.append(f"identity policy {where} ({action}): {why}")
    if allow is not None:
        return IdentityVerdict("Allow", allow, notes)
    if not p.policies:
        notes.append(f"{p.principal_arn} has no identity policy")
    return IdentityVerdict(None, "", notes)


__all__ = ["Principal", "IdentityVerdict", "resolve", "principal_context", "evaluate_identity", "org_facts",
           "as_list"]
