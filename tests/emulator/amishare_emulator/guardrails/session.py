"""Session policies (IAM user guide "Session policies"; STS API reference "AssumeRole" `Policy`,
`PolicyArns`): the inline policy and managed policies passed to AssumeRole stay with the session;
its permissions are the intersection of the role's identity policies and the session policies
(any of which may allow; a Deny in one wins). A resource-based policy naming the role ARN is
limited by an implicit deny in the session policy; one naming the session ARN is not.

Kept per access key of the session (the emulator's `Caller.access_key`); reset with the emulator.

Pages: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session
"""

from __future__ import annotations

import json
import threading
from typing import Any

from . import SESSION, LayerVerdict, evaluate_statements
from .boundary import boundary_policy

_LOCK = threading.Lock()
_SESSIONS: dict[str, dict[str, Any]] = {}  # access key -> {"policy": str | None, "arns": [..], "account": A}


def remember(access_key: str, account: str, policy: str | None, policy_arns: list[str]) -> None:
    if not policy and not policy_arns:
        return
    with _LOCK:
        _SESSIONS[access_key] = {"policy": policy, "arns": list(policy_arns), "account": account}


def of(access_key: str | None) -> dict[str, Any] | None:
    if not access_key:
        return None
    with _LOCK:
        return _SESSIONS.get(access_key)


def reset() -> None:
    with _LOCK:
        _SESSIONS.clear()


def policy_arns_of_request(params: dict[str, list[str]]) -> list[str]:
    """`PolicyArns.member.N.arn` of an STS query request."""
    out = []
    for k, v in sorted(params.items()):
        if k.startswith("PolicyArns.member.") and k.endswith(".arn") and v:
            out.append(v[0])
    return out


def _policies(sess: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    from ..policy_eval import parse_statements

    out: list[tuple[str, list[dict[str, Any]]]] = []
    if sess.get("policy"):
        try:
            out.append(("session inline policy", parse_statements(json.loads(sess["policy"])) or []))
        except ValueError:
            out.append(("session inline policy", []))
    for arn in sess.get("arns", []):
        pol = boundary_policy(sess["account"], arn)
        if pol is not None:
            out.append((f"session policy {pol[0]}", pol[1]))
    return out


def evaluate(p: Any, action: str, resource: str, ctx: dict[str, Any], network_never: bool) -> LayerVerdict | None:
    sess = getattr(p, "session", None)
    if not sess:
        return None
    effect, where, notes = evaluate_statements(_policies(sess), action, resource, ctx, network_never)
    return LayerVerdict(SESSION, effect, where or f"no session policy allows {action}", notes)
