"""The emulator's key-use rule: may the caller's account/principal use a KMS key?

Deliberately simple and written independently of amishare's Rust analyzer: it is the
independent check of the workflow.  The exact rule is documented in tests/emulator/README.md
("Key-use rule"); keep the two in sync.
"""

from __future__ import annotations

import ipaddress  # noqa: F401  (kept for future IpAddress support)
import json
import re
from dataclasses import dataclass, field
from typing import Any

ALLOW_CONDITION_KEYS = {"kms:grantisforawsresource", "kms:viaservice", "kms:calleraccount"}
NETWORK_KEYS = {"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce"}
# The actions EC2 needs on the caller's behalf.  Both groups must be allowed.
REQUIRED_GROUPS = [["kms:CreateGrant"], ["kms:Decrypt", "kms:ReEncryptFrom"]]
DENY_ACTIONS = ["kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom"]


@dataclass
class Decision:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    missing_action: str | None = None  # the action AWS would report as denied (kms:CreateGrant first)
    matched: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reasons": self.reasons,
            "missing_action": self.missing_action,
            "matched": self.matched,
        }


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, list):
        return v
    return [v]


def _wild_re(pattern: str, ignore_case: bool = True) -> re.Pattern[str]:
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("^" + out + "$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(patterns: list[Any], action: str) -> bool:
    return any(isinstance(p, str) and _wild_re(p).match(action) for p in patterns)


def statement_action_matches(stmt: dict[str, Any], action: str) -> bool:
    if "Action" in stmt:
        return action_matches(_as_list(stmt["Action"]), action)
    if "NotAction" in stmt:
        return not action_matches(_as_list(stmt["NotAction"]), action)
    return False


def statement_resource_matches(stmt: dict[str, Any], key_arn: str) -> bool:
    if "Resource" in stmt:
        return any(
            isinstance(r, str) and (r == "*" or _wild_re(r, ignore_case=False).match(key_arn))
            for r in _as_list(stmt["Resource"])
        )
    if "NotResource" in stmt:
        return not any(
            isinstance(r, str) and (r == "*" or _wild_re(r, ignore_case=False).match(key_arn))
            for r in _as_list(stmt["NotResource"])
        )
    return False  # a key policy statement without Resource has no effect


_ARN_RE = re.compile(r"^arn:aws[\w-]*:(iam|sts)::(\d{12}):(.+)$")


def _principal_tuple(arn: str) -> tuple[str, str, str] | None:
    """(kind, account, name) for role / user / assumed-role / root ARNs."""
    m = _ARN_RE.match(arn)
    if not m:
        return None
    service, account, rest = m.groups()
    if rest == "root":
        return ("root", account, "")
    if service == "sts" and rest.startswith("assumed-role/"):
        parts = rest.split("/")
        return ("role", account, parts[1] if len(parts) > 1 else "")
    if rest.startswith("role/"):
        return ("role", account, rest.split("/")[-1])
    if rest.startswith("user/"):
        return ("user", account, rest.split("/")[-1])
    return (rest.split("/")[0], account, rest.split("/")[-1])


def principal_values(p: Any) -> list[str]:
    if p == "*":
        return ["*"]
    if isinstance(p, dict):
        return [str(v) for v in _as_list(p.get("AWS"))]
    return []


def principal_value_matches(value: str, caller_arn: str, caller_account: str) -> bool:
    value = value.strip()
    if value == "*":
        return True
    if re.fullmatch(r"\d{12}", value):
        return value == caller_account
    want = _principal_tuple(value)
    if want is None:
        return False
    if want[0] == "root":
        return want[1] == caller_account
    have = _principal_tuple(caller_arn)
    if value == caller_arn:
        return True
    return have is not None and have == want


def statement_principal_matches(stmt: dict[str, Any], caller_arn: str, caller_account: str) -> bool:
    if "Principal" in stmt:
        return any(
            principal_value_matches(v, caller_arn, caller_account)
            for v in principal_values(stmt["Principal"])
        )
    if "NotPrincipal" in stmt:
        return not any(
            principal_value_matches(v, caller_arn, caller_account)
            for v in principal_values(stmt["NotPrincipal"])
        )
    return False


_STRING_OPS = {
    "stringequals": (False, False, False),  # (negated, ignore_case, like)
    "stringnotequals": (True, False, False),
    "stringequalsignorecase": (False, True, False),
    "stringnotequalsignorecase": (True, True, False),
    "stringlike": (False, False, True),
    "stringnotlike": (True, False, True),
    "arnequals": (False, False, True),
    "arnlike": (False, False, True),
    "arnnotequals": (True, False, True),
    "arnnotlike": (True, False, True),
}


def _bool_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).strip().lower()


def eval_operator(op: str, key: str, values: list[Any], ctx: dict[str, str]) -> bool | None:
    """True/False, or None for an operator this rule does not understand."""
    op_l = op.lower()
    set_prefix = None
    for pref in ("forallvalues:", "foranyvalue:"):
        if op_l.startswith(pref):
            set_prefix = pref
            op_l = op_l[len(pref):]
    if_exists = op_l.endswith("ifexists")
    if if_exists:
        op_l = op_l[: -len("ifexists")]
    present = key in ctx
    if op_l == "null":
        return any(_bool_str(v) == ("false" if present else "true") for v in values)
    if not present:
        if set_prefix == "forallvalues:":
            return True
        if set_prefix == "foranyvalue:":
            return False
        if if_exists:
            return True
        if op_l in _STRING_OPS:
            return _STRING_OPS[op_l][0]
        if op_l == "bool":
            return False
        return None
    actual = ctx[key]
    if op_l == "bool":
        return any(_bool_str(v) == _bool_str(actual) for v in values)
    if op_l in _STRING_OPS:
        negated, ic, like = _STRING_OPS[op_l]

        def one(v: Any) -> bool:
            v = str(v)
            if like:
                return bool(_wild_re(v, ignore_case=ic).match(actual))
            return v.lower() == actual.lower() if ic else v == actual

        hit = any(one(v) for v in values)
        return (not hit) if negated else hit
    return None


def condition_holds_for_allow(cond: dict[str, Any], ctx: dict[str, str]) -> tuple[bool, str]:
    for op, block in (cond or {}).items():
        if not isinstance(block, dict):
            return False, f"malformed condition {op}"
        for key, vals in block.items():
            k = key.lower()
            if k in NETWORK_KEYS:
                return False, f"condition on {key} never holds for EC2's calls (they come from AWS infrastructure)"
            if k not in ALLOW_CONDITION_KEYS:
                return False, f"condition key {key} is not one this rule evaluates"
            r = eval_operator(op, k, _as_list(vals), ctx)
            if r is None:
                return False, f"condition operator {op} is not supported"
            if not r:
                return False, f"condition {op} {key}={vals} does not hold (request has {ctx.get(k, 'no value')})"
    return True, ""


def condition_holds_for_deny(cond: dict[str, Any], ctx: dict[str, str]) -> bool:
    """Conservative: network keys and unknown keys count as holding; known keys are evaluated."""
    for op, block in (cond or {}).items():
        if not isinstance(block, dict):
            continue
        for key, vals in block.items():
            k = key.lower()
            if k in NETWORK_KEYS:
                continue
            if k in ALLOW_CONDITION_KEYS or k == "aws:viaawsservice":
                r = eval_operator(op, k, _as_list(vals), ctx)
                if r is False:
                    return False
                continue
            # any other key: assume it holds (the conservative reading for a Deny)
    return True


def parse_statements(policy: str | None) -> list[dict[str, Any]] | None:
    try:
        doc = json.loads(policy or "")
    except Exception:
        return None
    if not isinstance(doc, dict):
        return None
    stmts = doc.get("Statement")
    if isinstance(stmts, dict):
        stmts = [stmts]
    if not isinstance(stmts, list):
        return None
    return [s for s in stmts if isinstance(s, dict)]


def request_context(action: str, caller_account: str, key_region: str, via_ec2: bool) -> dict[str, str]:
    ctx = {"kms:calleraccount": caller_account, "aws:viaawsservice": "true" if via_ec2 else "false"}
    if via_ec2:
        ctx["kms:viaservice"] = f"ec2.{key_region}.amazonaws.com"
        if action.lower() in ("kms:creategrant", "kms:listgrants", "kms:revokegrant"):
            ctx["kms:grantisforawsresource"] = "true"
    return ctx


def allowing_statements(
    stmts: list[dict[str, Any]], action: str, caller_arn: str, caller_account: str, key_arn: str,
    key_region: str, via_ec2: bool, notes: list[str],
) -> list[str]:
    ctx = request_context(action, caller_account, key_region, via_ec2)
    out = []
    for i, s in enumerate(stmts):
        if str(s.get("Effect", "")).lower() != "allow":
            continue
        sid = str(s.get("Sid", f"#{i}"))
        if not statement_action_matches(s, action):
            continue
        if not statement_resource_matches(s, key_arn):
            notes.append(f"{sid}: no Resource matching the key")
            continue
        if not statement_principal_matches(s, caller_arn, caller_account):
            continue
        ok, why = condition_holds_for_allow(s.get("Condition") or {}, ctx)
        if not ok:
            notes.append(f"{sid} ({action}): {why}")
            continue
        out.append(sid)
    return out


def denying_statements(
    stmts: list[dict[str, Any]], actions: list[str], caller_arn: str, caller_account: str,
    key_arn: str, key_region: str, via_ec2: bool,
) -> list[str]:
    out = []
    for i, s in enumerate(stmts):
        if str(s.get("Effect", "")).lower() != "deny":
            continue
        sid = str(s.get("Sid", f"#{i}"))
        for action in actions:
            ctx = request_context(action, caller_account, key_region, via_ec2)
            if (
                statement_action_matches(s, action)
                and statement_resource_matches(s, key_arn)
                and statement_principal_matches(s, caller_arn, caller_account)
                and condition_holds_for_deny(s.get("Condition") or {}, ctx)
            ):
                out.append(f"{sid} ({action})")
                break
    return out


def evaluate_key_use(key: Any, caller_arn: str, caller_account: str) -> Decision:
    """May EC2, acting for (caller_arn, caller_account), use `key` (a moto kms Key or None)?"""
    if key is None:
        return Decision(False, ["key does not exist (or is not in the key's region)"], "kms:CreateGrant")
    key_arn = key.arn
    key_region = key.region
    if getattr(key, "key_manager", "CUSTOMER") == "AWS" and key.account_id != caller_account:
        return Decision(
            False,
            [f"{key_arn} is an AWS managed key: it can never be used by another account"],
            "kms:CreateGrant",
        )
    if getattr(key, "key_state", "Enabled") != "Enabled":
        return Decision(False, [f"key state is {key.key_state}"], "kms:CreateGrant")
    stmts = parse_statements(key.policy)
    if stmts is None:
        return Decision(False, ["key policy is not valid JSON"], "kms:CreateGrant")
    notes: list[str] = []
    matched: dict[str, list[str]] = {}
    missing = None
    for group in REQUIRED_GROUPS:
        hits: list[str] = []
        for action in group:
            sids = allowing_statements(
                stmts, action, caller_arn, caller_account, key_arn, key_region, True, notes
            )
            if sids:
                matched[action] = sids
                hits.extend(sids)
        if not hits and missing is None:
            missing = group[0]
    denies = denying_statements(
        stmts, DENY_ACTIONS, caller_arn, caller_account, key_arn, key_region, True
    )
    reasons = []
    if missing:
        reasons.append(
            f"no key policy statement allows {' or '.join(g for grp in REQUIRED_GROUPS if missing in grp for g in grp)}"
            f" to {caller_arn} (account {caller_account})"
        )
    if denies:
        reasons.append("explicit Deny applies: " + ", ".join(denies))
        missing = missing or "kms:CreateGrant"
    reasons.extend(notes)
    allowed = missing is None and not denies
    if allowed:
        reasons.insert(0, "allowed by " + "; ".join(f"{a}: {','.join(s)}" for a, s in matched.items()))
    return Decision(allowed, reasons, None if allowed else missing, matched)


def evaluate_direct_call(key: Any, action: str, caller_arn: str, caller_account: str) -> Decision:
    """A direct KMS API call from another account (no EC2 in between)."""
    if getattr(key, "key_manager", "CUSTOMER") == "AWS" and key.account_id != caller_account:
        return Decision(False, ["AWS managed keys cannot be used by another account"], action)
    stmts = parse_statements(key.policy)
    if stmts is None:
        return Decision(False, ["key policy is not valid JSON"], action)
    notes: list[str] = []
    sids = allowing_statements(
        stmts, action, caller_arn, caller_account, key.arn, key.region, False, notes
    )
    denies = denying_statements(stmts, [action], caller_arn, caller_account, key.arn, key.region, False)
    allowed = bool(sids) and not denies
    reasons = (["allowed by " + ",".join(sids)] if allowed else []) + (
        ["explicit Deny: " + ",".join(denies)] if denies else []
    ) + notes
    return Decision(allowed, reasons, None if allowed else action, {action: sids})
