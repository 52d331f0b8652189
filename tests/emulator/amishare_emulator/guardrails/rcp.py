"""Resource control policies on KMS keys (Organizations user guide "Resource control policies
(RCPs)", "RCP evaluation"; IAM user guide "Policy evaluation logic"):

- the RCPs of the key OWNER's organization (the RESOURCE_CONTROL_POLICY type enabled on its root)
  restrict every principal that uses the key, outsiders included;
- never keys of the management account, never AWS managed keys, never service-linked roles;
- every level from the root down to the owning account must allow (moto attaches the AWS managed
  RCPFullAWSAccess everywhere, as AWS does); an applicable Deny at any level wins.

The data-perimeter conditions get the request's `aws:PrincipalOrgID`, `aws:PrincipalAccount`,
`aws:PrincipalIsAWSService` (false: the emulator's callers are never service principals),
`aws:ViaAWSService` and `aws:ResourceTag/<key>` (the key's tags), `aws:ResourceAccount`,
`aws:ResourceOrgID`.

Pages: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html,
.../orgs_manage_policies_rcps_evaluation.html
"""

from __future__ import annotations

from typing import Any

from . import RCP, LayerVerdict, evaluate_statements
from ..policy_eval import RESOURCE_TAGS_MARK
from .scp import SLR_MARK, _statements, applies_to, levels


def key_tags(key: Any) -> dict[str, str]:
    from moto.kms.models import kms_backends

    try:
        tagger = kms_backends[key.account_id][key.region].tagger
        return {t["TagKey"]: t["TagValue"] for t in tagger.list_tags_for_resource(key.id).get("Tags", [])}
    except Exception:
        return {}


def resource_context(key: Any) -> dict[str, Any]:
    from ..orgs import org_facts

    from ..policy_eval import RESOURCE_TAGS_MARK

    ctx: dict[str, Any] = {"aws:resourceaccount": key.account_id, RESOURCE_TAGS_MARK: "true"}
    org_id, _ = org_facts(key.account_id)
    if org_id:
        ctx["aws:resourceorgid"] = org_id
    for k, v in key_tags(key).items():
        ctx[f"aws:resourcetag/{k.lower()}"] = v
    return ctx


def evaluate(key: Any, p: Any, action: str, ctx: dict[str, Any], network_never: bool) -> list[LayerVerdict]:
    if getattr(key, "key_manager", "CUSTOMER") == "AWS" or SLR_MARK in p.principal_arn:
        return []
    found = applies_to(key.account_id, "", "RESOURCE_CONTROL_POLICY")
    if found is None:
        return []
    backend, acc = found
    full = ctx if RESOURCE_TAGS_MARK in ctx else {**ctx, **resource_context(key)}
    missing = ""
    for target, pols in levels(backend, acc):
        rcps = [(pol.id, _statements(pol)) for pol in pols if pol.type == "RESOURCE_CONTROL_POLICY"]
        effect, where, notes = evaluate_statements(rcps, action, key.arn, full, network_never)
        if effect == "Deny":
            return [LayerVerdict(RCP, "Deny", f"{target}:{where}", notes)]
        if effect is None and not missing:
            missing = f"no RCP attached to {target} allows {action}"
    return [LayerVerdict(RCP, None, missing)] if missing else []
