"""The emulator's key-use rule: may a principal use a KMS key, directly or through EC2?

Written independently of amishare's Rust analyzer, from the KMS Developer Guide ("Determining access
to an AWS KMS key", "key-policy-default", "key-policy-modifying-external-accounts", "grants",
"conditions-kms") and the IAM User Guide ("Policy evaluation logic", "Cross-account policy evaluation
logic"). The exact rule is documented in tests/emulator/README.md ("Key-use rule"); keep them in sync.

Per action: an explicit Deny in the key policy or the caller's identity policies denies. Otherwise,
same account: allowed when the key policy allows the principal itself (its ARN, its role, `*`), or
allows the account (`ACCT`/`arn:aws:iam::ACCT:root`: delegation) and an identity policy allows; cross
account: the key policy must allow the external account or principal AND an identity policy must
allow. A grant is a third source: a grant to the principal (or its role) allows by itself, a grant
to its account needs an identity policy too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .guardrails import RCP, SCP, principal_layers, rcp, wording
from .identity import Principal, evaluate_identity, principal_context
from .policy_eval import (  # noqa: F401  (re-exported: older imports use keyuse.*)
    condition_holds_for_allow, condition_holds_for_deny, is_account_value, matching_principal_values,
    parse_statements, principal_tuple, principal_value_matches, sid_of, statement_action_matches,
    statement_principal_matches, statement_resource_matches,
)

# The actions EC2 needs on the caller's behalf; both groups must be allowed. EC2's CreateGrant is made
# with the caller's rights (key policy + identity policies + grants). EC2 then decrypts under the grant
# it created, so the caller's identity policies need only CreateGrant (the seeds' fix); the key policy
# (or a grant) must still admit the caller or its account for Decrypt/ReEncryptFrom.
REQUIRED_GROUPS = [["kms:CreateGrant"], ["kms:Decrypt", "kms:ReEncryptFrom"]]
GRANT_OPS = ("kms:creategrant", "kms:listgrants", "kms:revokegrant")
EC2_SOURCE_IP = "52.95.4.1"  # "an EC2 infrastructure address, never the user's" (DOMAIN.md)


@dataclass
class ActionVerdict:
    allowed: bool
    decided_by: str             # key policy | identity policy | key policy + identity policy | grant | ...
    statement: str = ""         # deciding key-policy Sid, identity "<policy>/<Sid>" or "grant <id>"
    missing: str = ""           # denied: "key policy" | "identity policy" | "explicit deny in ..."
    key_sids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "decided_by": self.decided_by, "statement": self.statement,
                **({"missing": self.missing} if self.missing else {})}


@dataclass
class Decision:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    missing_action: str | None = None  # the action AWS would report as denied (kms:CreateGrant first)
    matched: dict[str, list[str]] = field(default_factory=dict)  # action -> allowing key-policy Sids
    decided_by: str = ""
    statement: str = ""
    per_action: dict[str, ActionVerdict] = field(default_factory=dict)
    missing_source: str = ""  # denied: key policy | identity policy | explicit deny in key/identity policy

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reasons": self.reasons, "missing_action": self.missing_action,
                "matched": self.matched, "decided_by": self.decided_by, "statement": self.statement,
                "actions": {a: v.to_json() for a, v in self.per_action.items()},
                **({"missing_source": self.missing_source} if self.missing_source else {})}

    def denial_message(self, caller_arn: str, key_arn: str) -> str:
        action = self.missing_action or "kms:CreateGrant"
        head = f"User: {caller_arn} is not authorized to perform: {action} on resource: {key_arn}"
        return f"{head} {wording(self.missing_source or 'key policy', action)}"


def _admin(caller_arn: str, account: str) -> Principal:
    return Principal(caller_arn, account, caller_arn, "admin")


def request_context(action: str, p: Principal, key_region: str, via_ec2: bool,
                    enc_ctx: dict[str, str] | None = None, source_ip: str | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"kms:calleraccount": p.account, "aws:viaawsservice": "true" if via_ec2 else "false",
                           "aws:requestedregion": key_region, **principal_context(p)}
    if via_ec2:
        ctx["kms:viaservice"] = f"ec2.{key_region}.amazonaws.com"
        ctx["aws:sourceip"] = EC2_SOURCE_IP
        if action.lower() in GRANT_OPS:
            ctx["kms:grantisforawsresource"] = "true"
    else:
        if source_ip:
            ctx["aws:sourceip"] = source_ip
        if action.lower() in GRANT_OPS:
            ctx["kms:grantisforawsresource"] = "false"
    if enc_ctx:
        ctx["kms:encryptioncontextkeys"] = list(enc_ctx)
        for k, v in enc_ctx.items():
            ctx[f"kms:encryptioncontext:{k.lower()}"] = v
    ctx.update(extra or {})
    return ctx


def _key_policy(stmts: list[dict[str, Any]], action: str, p: Principal, key_arn: str, ctx: dict[str, Any],
                via_ec2: bool, notes: list[str]) -> tuple[list[str], list[str], str | None]:
    """(Sids allowing the principal itself, Sids allowing its account, first applying Deny Sid)."""
    direct, account, deny = [], [], None
    for i, s in enumerate(stmts):
        if not statement_action_matches(s, action):
            continue
        sid = sid_of(s, i)
        if not statement_resource_matches(s, key_arn):
            notes.append(f"{sid}: no Resource matching the key")
            continue
        vals = matching_principal_values(s, p.arn, p.account)
        if vals is None:
            continue
        effect = str(s.get("Effect", "")).lower()
        if effect == "deny":
            if deny is None and condition_holds_for_deny(s.get("Condition") or {}, ctx, via_ec2):
                deny = sid
            continue
        if effect != "allow":
            continue
        ok, why = condition_holds_for_allow(s.get("Condition") or {}, ctx, via_ec2)
        if not ok:
            notes.append(f"{sid} ({action}): {why}")
            continue
        (account if vals and all(is_account_value(v) for v in vals) else direct).append(sid)
    return direct, account, deny


def _grant_for(key: Any, action: str, p: Principal, enc_ctx: dict[str, str] | None) -> tuple[Any, bool]:
    """(a grant giving `p` the action, whether it names only the account), or (None, False)."""
    op = action.split(":", 1)[-1]
    best = None
    for g in list(getattr(key, "grants", {}).values()):
        if op not in (g.operations or []):
            continue
        grantee = str(g.grantee_principal or "")
        if not principal_value_matches(grantee, p.arn, p.account):
            continue
        c = g.constraints or {}
        have = enc_ctx or {}
        if c.get("EncryptionContextSubset") and any(have.get(k) != v for k, v in c["EncryptionContextSubset"].items()):
            continue
        if c.get("EncryptionContextEquals") and c["EncryptionContextEquals"] != have:
            continue
        if not is_account_value(grantee):
            return g, False
        best = best or g
    return best, best is not None


def decide_action(key: Any, stmts: list[dict[str, Any]], action: str, p: Principal, via_ec2: bool,
                  enc_ctx: dict[str, str] | None = None, source_ip: str | None = None,
                  extra_ctx: dict[str, Any] | None = None, key_policy_only: bool = False) -> ActionVerdict:
    """`key_policy_only`: EC2's use actions, done under the grant EC2 created: the key policy (or a
    grant) must admit the principal or its account, identity policies count only with a Deny.

    The guardrail layers (guardrails/): an explicit Deny in an SCP, RCP, boundary or session policy
    denies; an SCP that does not allow denies whatever else allows; a boundary or session policy
    that does not allow denies unless the key policy (or a grant) names the session ARN itself
    (IAM user guide "Policy evaluation logic", "Permissions boundaries", "Session policies")."""
    ctx = request_context(action, p, key.region, via_ec2, enc_ctx, source_ip, extra_ctx)
    ctx.update(rcp.resource_context(key))
    notes: list[str] = []
    direct, account, kdeny = _key_policy(stmts, action, p, key.arn, ctx, via_ec2, notes)
    idv = evaluate_identity(p, action, key.arn, ctx, via_ec2)
    notes += idv.notes
    sids = direct + account
    if kdeny is not None:
        return ActionVerdict(False, "key policy", kdeny, "explicit deny in key policy", sids, notes)
    if idv.effect == "Deny":
        return ActionVerdict(False, "identity policy", idv.statement, "explicit deny in identity policy", sids, notes)
    layers = principal_layers(p, action, key.arn, ctx, via_ec2) + rcp.evaluate(key, p, action, ctx, via_ec2)
    for lv in layers:
        notes += lv.notes
    hard = next((lv for lv in layers if lv.effect == "Deny"), None) or next(
        (lv for lv in layers if lv.effect is None and lv.layer in (SCP, RCP)), None)
    if hard is not None:
        missing = f"explicit deny in {hard.layer}" if hard.effect == "Deny" else hard.layer
        return ActionVerdict(False, hard.layer, hard.where, missing, sids, notes)
    caps = next((lv for lv in layers if lv.effect is None), None)  # a boundary / session policy
    same = p.account == key.account_id
    if key_policy_only and sids:
        return ActionVerdict(True, "key policy", sids[0], "", sids, notes)
    exact = _names_session(stmts, action, p)
    if same and direct and (caps is None or exact):
        return ActionVerdict(True, "key policy", direct[0], "", sids, notes)
    if caps is not None and (sids or idv.effect == "Allow"):
        return ActionVerdict(False, caps.layer, caps.where, caps.layer, sids, notes)
    if sids and idv.effect == "Allow":
        by = "identity policy" if same else "key policy + identity policy"
        return ActionVerdict(True, by, idv.statement if same else f"{sids[0]} + {idv.statement}", "", sids, notes)
    grant, to_account = _grant_for(key, action, p, enc_ctx)
    if grant is not None and caps is not None and str(grant.grantee_principal) != p.arn:
        return ActionVerdict(False, caps.layer, caps.where, caps.layer, sids, notes)
    if grant is not None and (not to_account or idv.effect == "Allow"):
        by = "grant + identity policy" if to_account else "grant"
        return ActionVerdict(True, by, f"grant {grant.id}", "", sids, notes)
    missing = "identity policy" if sids else "key policy"
    return ActionVerdict(False, missing, "", missing, sids, notes)


def _names_session(stmts: list[dict[str, Any]], action: str, p: Principal) -> bool:
    """Does an Allow of the key policy name the caller's own session (or user) ARN? Such an Allow is
    not limited by the role's boundary or session policies."""
    if p.arn == p.principal_arn and p.kind != "user":
        return False
    for s in stmts:
        if str(s.get("Effect", "")).lower() == "allow" and statement_action_matches(s, action):
            if p.arn in (matching_principal_values(s, p.arn, p.account) or []):
                return True
    return False


def _refusal(key: Any, p: Principal) -> str | None:
    if key is None:
        return "key does not exist (or is not in the key's region)"
    if getattr(key, "key_manager", "CUSTOMER") == "AWS" and key.account_id != p.account:
        return f"{key.arn} is an AWS managed key: it can never be used by another account"
    if getattr(key, "key_state", "Enabled") != "Enabled":
        return f"key state is {key.key_state}"
    # EBS user guide "Amazon EBS encryption": EBS supports only symmetric encryption KMS keys
    if (getattr(key, "key_spec", None) or "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or \
            (getattr(key, "key_usage", None) or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return f"{key.arn} is a {key.key_spec} key ({key.key_usage}): EBS uses symmetric encryption keys only"
    if parse_statements(key.policy) is None:
        return "key policy is not valid JSON"
    return None


def evaluate_key_use(key: Any, caller_arn: str, caller_account: str, principal: Principal | None = None,
                     enc_ctx: dict[str, str] | None = None) -> Decision:
    """May EC2, acting for the caller, use `key` (a moto kms Key or None)? `principal` None: a caller
    with no IAM entity (identity policies allow everything)."""
    p = principal or _admin(caller_arn, caller_account)
    refused = _refusal(key, p)
    if refused:
        return Decision(False, [refused], "kms:CreateGrant", decided_by="key", statement=refused)
    stmts = parse_statements(key.policy) or []
    per: dict[str, ActionVerdict] = {}
    missing, denied_by = None, None
    for group in REQUIRED_GROUPS:
        for a in group:
            per[a] = decide_action(key, stmts, a, p, True, enc_ctx, key_policy_only=a != "kms:CreateGrant")
        deny = next((a for a in group if per[a].missing.startswith("explicit deny")), None)
        denied_by = denied_by or deny
        if missing is None and not any(per[a].allowed for a in group):
            missing = group[0]
    if missing is None and denied_by is not None:
        missing = "kms:CreateGrant"  # EC2's first call (CreateGrant) is the one CloudTrail shows denied
    return _summarise(per, missing, caller_arn, caller_account)


def _summarise(per: dict[str, ActionVerdict], missing: str | None, caller_arn: str, account: str) -> Decision:
    matched = {a: v.key_sids for a, v in per.items() if v.key_sids}
    notes = [n for v in per.values() for n in v.notes]
    if missing is None:
        deciding = per.get("kms:CreateGrant") or next(iter(per.values()))
        reasons = ["allowed: " + "; ".join(f"{a} by {v.decided_by} ({v.statement})"
                                           for a, v in per.items() if v.allowed)]
        return Decision(True, reasons + notes, None, matched, deciding.decided_by, deciding.statement, per)
    v = per[missing]
    if not v.missing:  # denied through another action of the request (an explicit Deny on it)
        v = next(x for x in per.values() if x.missing.startswith("explicit deny"))
    if v.missing.startswith("explicit deny"):
        why = f"explicit Deny applies: {v.statement} ({missing}) in the {v.decided_by}"
    elif v.missing == "identity policy":
        why = (f"the key policy allows {missing} to the account of {caller_arn} but no identity policy of "
               f"that principal allows it")
    elif v.missing != "key policy":
        why = f"{missing} is denied by the {v.missing}: {v.statement}"
    else:
        why = f"no key policy statement allows {missing} to {caller_arn} (account {account}), and no grant"
    return Decision(False, [why] + notes, missing, matched, v.decided_by, v.statement, per, v.missing)


def evaluate_direct_call(key: Any, action: str, caller_arn: str, caller_account: str,
                         principal: Principal | None = None, source_ip: str | None = None,
                         extra_ctx: dict[str, Any] | None = None,
                         enc_ctx: dict[str, str] | None = None) -> Decision:
    """A KMS API call made by the principal itself (no AWS service in between)."""
    p = principal or _admin(caller_arn, caller_account)
    if getattr(key, "key_manager", "CUSTOMER") == "AWS" and key.account_id != p.account:
        return Decision(False, ["AWS managed keys cannot be used by another account"], action,
                        decided_by="key", statement="AWS managed key")
    stmts = parse_statements(key.policy)
    if stmts is None:
        return Decision(False, ["key policy is not valid JSON"], action, decided_by="key")
    v = decide_action(key, stmts, action, p, False, enc_ctx, source_ip, extra_ctx)
    return _summarise({action: v}, None if v.allowed else action, caller_arn, caller_account)
