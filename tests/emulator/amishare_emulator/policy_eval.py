"""IAM policy language, as the emulator reads it (written from the IAM User Guide's "Policy evaluation
logic", "IAM JSON policy elements: Condition operators" and "AWS global condition context keys", and
the KMS Developer Guide's "conditions-kms"): statement matching (Action/NotAction, Resource/NotResource,
Principal/NotPrincipal) and condition evaluation against a request context.

Request context: a dict of lower-cased condition keys to a string or a list of strings (multi-valued
keys such as aws:PrincipalOrgPaths). Keys the emulator does not model (see UNMODELLED) make an Allow
never help and a Deny always apply: the conservative reading.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime, timezone
from typing import Any

# Keys EC2's on-behalf calls can never satisfy in an Allow (the call comes from AWS infrastructure);
# in a Deny they count as holding (EC2's address is never in the user's range). DOMAIN.md, cause 4.
NETWORK_KEYS = {"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce"}
# Keys the emulator puts in a request context (when they apply); prefixes end with "/" or ":".
MODELLED_KEYS = {
    "kms:grantisforawsresource", "kms:viaservice", "kms:calleraccount", "aws:viaawsservice",
    "aws:sourceip", "aws:principalarn", "aws:principalaccount", "aws:principalorgid",
    "aws:principalorgpaths", "aws:principaltype", "aws:currenttime", "aws:epochtime",
    "kms:encryptioncontextkeys", "kms:grantoperations", "kms:granteeprincipal", "kms:retiringprincipal",
    "aws:principalisawsservice", "aws:resourceaccount", "aws:resourceorgid", "aws:requestedregion",
    "iam:awsservicename",
}
MODELLED_PREFIXES = ("aws:principaltag/", "kms:encryptioncontext:")
# aws:ResourceTag/* is modelled for requests whose context carries this marker (KMS keys' tags)
RESOURCE_TAGS_MARK = "emulator:resourcetags"

Context = dict[str, Any]


def as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, list):
        return v
    return [v]


def wild_re(pattern: str, ignore_case: bool = True) -> re.Pattern[str]:
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("^" + out + "$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(patterns: list[Any], action: str) -> bool:
    return any(isinstance(p, str) and wild_re(p).match(action) for p in patterns)


def statement_action_matches(stmt: dict[str, Any], action: str) -> bool:
    if "Action" in stmt:
        return action_matches(as_list(stmt["Action"]), action)
    if "NotAction" in stmt:
        return not action_matches(as_list(stmt["NotAction"]), action)
    return False


def _resource_hit(patterns: list[Any], arn: str) -> bool:
    return any(isinstance(r, str) and (r == "*" or wild_re(r, ignore_case=False).match(arn)) for r in patterns)


def statement_resource_matches(stmt: dict[str, Any], arn: str) -> bool:
    if "Resource" in stmt:
        return _resource_hit(as_list(stmt["Resource"]), arn)
    if "NotResource" in stmt:
        return not _resource_hit(as_list(stmt["NotResource"]), arn)
    return False  # a statement without Resource has no effect


_ARN_RE = re.compile(r"^arn:aws[\w-]*:(iam|sts)::(\d{12}):(.+)$")


def principal_tuple(arn: str) -> tuple[str, str, str] | None:
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
        return [str(v) for v in as_list(p.get("AWS"))]
    return []


def is_account_value(value: str) -> bool:
    """`ACCT` or `arn:aws:iam::ACCT:root`: the account (delegation to its IAM)."""
    value = value.strip()
    return bool(re.fullmatch(r"\d{12}", value)) or (principal_tuple(value) or ("",))[0] == "root"


def principal_value_matches(value: str, caller_arn: str, caller_account: str) -> bool:
    value = value.strip()
    if value == "*":
        return True
    if re.fullmatch(r"\d{12}", value):
        return value == caller_account
    want = principal_tuple(value)
    if want is None:
        return False
    if want[0] == "root":
        return want[1] == caller_account
    if value == caller_arn:
        return True
    have = principal_tuple(caller_arn)
    return have is not None and have == want


def matching_principal_values(stmt: dict[str, Any], caller_arn: str, caller_account: str) -> list[str] | None:
    """The Principal values naming the caller ([] for a NotPrincipal match), None when not matching."""
    if "Principal" in stmt:
        hits = [v for v in principal_values(stmt["Principal"]) if principal_value_matches(v, caller_arn, caller_account)]
        return hits or None
    if "NotPrincipal" in stmt:
        named = any(principal_value_matches(v, caller_arn, caller_account)
                    for v in principal_values(stmt["NotPrincipal"]))
        return None if named else []
    return None


def statement_principal_matches(stmt: dict[str, Any], caller_arn: str, caller_account: str) -> bool:
    return matching_principal_values(stmt, caller_arn, caller_account) is not None


def parse_statements(policy: Any) -> list[dict[str, Any]] | None:
    try:
        doc = policy if isinstance(policy, dict) else json.loads(policy or "")
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


def sid_of(stmt: dict[str, Any], i: int) -> str:
    return str(stmt.get("Sid", f"#{i}"))


# ----------------------------------------------------------------------------- conditions
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
_CMP = {"equals": lambda a, b: a == b, "notequals": lambda a, b: a != b, "lessthan": lambda a, b: a < b,
        "lessthanequals": lambda a, b: a <= b, "greaterthan": lambda a, b: a > b,
        "greaterthanequals": lambda a, b: a >= b}


def _bool_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).strip().lower()


def _date(v: Any) -> float:
    s = str(v).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).timestamp()


def _ip_in(actual: str, cidr: Any) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return False


def _negated(op: str) -> bool:
    if op in _STRING_OPS:
        return _STRING_OPS[op][0]
    return op in ("notipaddress", "numericnotequals", "datenotequals")


def _one(op: str, policy_value: Any, actual: str) -> bool | None:
    """Does one request value satisfy the positive form of `op` for one policy value?"""
    if op in _STRING_OPS:
        _neg, ic, like = _STRING_OPS[op]
        v = str(policy_value)
        if like:
            return bool(wild_re(v, ignore_case=ic).match(actual))
        return v.lower() == actual.lower() if ic else v == actual
    if op == "bool":
        return _bool_str(policy_value) == _bool_str(actual)
    if op in ("ipaddress", "notipaddress"):
        return _ip_in(actual, policy_value)
    for family, conv in (("numeric", float), ("date", _date)):
        if op.startswith(family):
            cmp = op[len(family):]
            cmp = "equals" if cmp == "notequals" else cmp
            if cmp not in _CMP:
                return None
            try:
                return bool(_CMP[cmp](conv(actual), conv(policy_value)))
            except (ValueError, TypeError):
                return False
    return None


def eval_operator(op: str, key: str, values: list[Any], ctx: Context) -> bool | None:
    """True/False, or None for an operator this evaluator does not understand."""
    op_l = op.lower()
    set_prefix = None
    for pref in ("forallvalues:", "foranyvalue:"):
        if op_l.startswith(pref):
            set_prefix = pref
            op_l = op_l[len(pref):]
    if_exists = op_l.endswith("ifexists")
    if if_exists:
        op_l = op_l[: -len("ifexists")]
    present = key in ctx and ctx[key] not in (None, [])
    if op_l == "null":
        return any(_bool_str(v) == ("false" if present else "true") for v in values)
    if not present:
        if set_prefix == "forallvalues:":
            return True
        if set_prefix == "foranyvalue:":
            return False
        if if_exists:
            return True
        if op_l in _STRING_OPS or op_l in ("bool", "ipaddress", "notipaddress") or op_l.startswith(("numeric", "date")):
            return _negated(op_l)
        return None
    actuals = [str(a) if not isinstance(a, bool) else _bool_str(a) for a in as_list(ctx[key])]
    negated = _negated(op_l)
    per_value = []
    for a in actuals:
        hits = [_one(op_l, v, a) for v in values]
        if any(h is None for h in hits):
            return None
        hit = any(hits)
        per_value.append((not hit) if negated else hit)
    if set_prefix == "forallvalues:":
        return all(per_value)
    return any(per_value) if not negated or set_prefix == "foranyvalue:" else all(per_value)


def is_modelled(key: str, ctx: Context | None = None) -> bool:
    if key.startswith("aws:resourcetag/"):
        return bool(ctx) and RESOURCE_TAGS_MARK in ctx  # type: ignore[operator]
    return key in MODELLED_KEYS or key.startswith(MODELLED_PREFIXES)


def condition_holds_for_allow(cond: dict[str, Any], ctx: Context, network_never: bool) -> tuple[bool, str]:
    """Does an Allow's Condition hold? `network_never`: the request is EC2's on-behalf call."""
    for op, block in (cond or {}).items():
        if not isinstance(block, dict):
            return False, f"malformed condition {op}"
        for key, vals in block.items():
            k = key.lower()
            if network_never and k in NETWORK_KEYS:
                return False, f"condition on {key} never holds for EC2's calls (they come from AWS infrastructure)"
            if not is_modelled(k, ctx):
                return False, f"condition key {key} is not one the emulator evaluates"
            r = eval_operator(op, k, as_list(vals), ctx)
            if r is None:
                return False, f"condition operator {op} is not supported"
            if not r:
                return False, f"condition {op} {key}={vals} does not hold (request has {ctx.get(k, 'no value')})"
    return True, ""


def condition_holds_for_deny(cond: dict[str, Any], ctx: Context, network_never: bool) -> bool:
    """Conservative: network keys (for EC2's calls) and unmodelled keys count as holding."""
    for op, block in (cond or {}).items():
        if not isinstance(block, dict):
            continue
        for key, vals in block.items():
            k = key.lower()
            if (network_never and k in NETWORK_KEYS) or not is_modelled(k, ctx):
                continue
            if eval_operator(op, k, as_list(vals), ctx) is False:
                return False
    return True
