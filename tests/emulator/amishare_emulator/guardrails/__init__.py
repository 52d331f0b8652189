"""The layers of AWS's authorization decision beyond identity policies, key policies and grants
(IAM user guide "Policy evaluation logic": an explicit Deny in any policy wins; SCPs, permissions
boundaries and session policies must each allow; resource-based policies and grants are the other
source of an Allow). One module per layer:

- `scp.py`: service control policies of the caller's organization (Organizations user guide
  "SCP evaluation").
- `boundary.py`: a role's permissions boundary (IAM user guide "Permissions boundaries for IAM entities").
- `session.py`: the session policies an AssumeRole passed (IAM user guide "Session policies").
- `api_auth.py`: IAM on every API action the emulator serves, DryRun, the error shapes.

`principal_layers` gives the verdict of each layer that applies to a principal for one action;
`wording` turns a denial's layer into AWS's errorMessage tail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..policy_eval import (
    condition_holds_for_allow, condition_holds_for_deny, sid_of, statement_action_matches,
    statement_resource_matches,
)

SCP = "service control policy"
RCP = "resource control policy"
BOUNDARY = "permissions boundary"
SESSION = "session policy"
IDENTITY = "identity policy"
KEY_POLICY = "key policy"
# AWS's errorMessage names ("... with an explicit deny in a X" / "... because no X allows ...")
AWS_NAMES = {KEY_POLICY: "resource-based policy", IDENTITY: "identity-based policy", SCP: SCP, RCP: RCP,
             BOUNDARY: BOUNDARY, SESSION: SESSION}


@dataclass
class LayerVerdict:
    layer: str                   # SCP | BOUNDARY | SESSION | RCP
    effect: str | None           # "Allow" | "Deny" | None (nothing allows: an implicit deny)
    where: str = ""              # "<policy id or name>/<Sid>" of the deciding statement (or the level)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "effect": self.effect or "implicit deny", "where": self.where}


def evaluate_statements(policies: list[tuple[str, list[dict[str, Any]]]], action: str, resource: str,
                        ctx: dict[str, Any], network_never: bool) -> tuple[str | None, str, list[str]]:
    """("Deny" | "Allow" | None, deciding "<policy>/<Sid>", notes) of principal-less policies
    (identity-like: boundaries, session policies, SCPs) for one action on one resource."""
    allow, notes = None, []
    for name, stmts in policies:
        for i, s in enumerate(stmts):
            if not statement_action_matches(s, action) or not statement_resource_matches(s, resource):
                continue
            where = f"{name}/{sid_of(s, i)}"
            effect = str(s.get("Effect", "")).lower()
            if effect == "deny" and condition_holds_for_deny(s.get("Condition") or {}, ctx, network_never):
                return "Deny", where, notes
            if effect == "allow" and allow is None:
                ok, why = condition_holds_for_allow(s.get("Condition") or {}, ctx, network_never)
                if ok:
                    allow = where
                else:
                    notes.append(f"{name}/{sid_of(s, i)} ({action}): {why}")
    return ("Allow" if allow else None), (allow or ""), notes


def principal_layers(p: Any, action: str, resource: str, ctx: dict[str, Any],
                     network_never: bool) -> list[LayerVerdict]:
    """The verdicts of the principal-side layers that apply to `p` (an identity.Principal)."""
    from . import boundary, scp, session

    out = []
    for layer in (scp.evaluate(p, action, resource, ctx, network_never),
                  boundary.evaluate(p, action, resource, ctx, network_never),
                  session.evaluate(p, action, resource, ctx, network_never)):
        if layer is not None:
            out.append(layer)
    return out


def wording(missing: str, action: str) -> str:
    """AWS's tail of a denial message for the layer that denied (`missing`: a layer name, or
    "explicit deny in <layer>")."""
    if missing.startswith("explicit deny in "):
        name = AWS_NAMES.get(missing[len("explicit deny in "):], missing[len("explicit deny in "):])
        return f"with an explicit deny in {'an' if name[0] in 'aeiou' else 'a'} {name}"
    name = AWS_NAMES.get(missing, missing)
    return f"because no {name} allows the {action} action"
