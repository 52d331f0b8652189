"""EC2 declarative policies (Organizations user guide "Declarative policies", "Declarative policy syntax
and examples"; API reference DescribeEffectivePolicy):

- type `DECLARATIVE_POLICY_EC2` (moto 5.2.1 does not know it: added here), enabled on the root with
  EnablePolicyType, attached to the root, OUs or accounts;
- the effective policy of an account merges the attached policies from the root down to the account
  (a later level's `@@assign` replaces a setting, `@@append` adds to a list);
- `ec2_attributes.allowed_images_settings` (`state`, `image_criteria.<name>.allowed_image_providers`,
  `allowed_image_names`, `allowed_marketplace_product_codes`, `creation_date_condition.
  maximum_days_since_created`, `deprecation_time_condition.maximum_days_since_deprecated`) sets the
  account's Allowed AMIs in every region (ec2/allowed_amis.py: ManagedBy `declarative-policy`, the
  account cannot change it); detaching restores the account's own settings. They are enforced by EC2
  itself, so they apply to service-linked roles too.
- `image_block_public_access` is kept in the effective policy but not enforced (public sharing of
  AMIs is outside amishare's workflow).
- DescribeEffectivePolicy(PolicyType=DECLARATIVE_POLICY_EC2[, TargetId]) answers any account for
  itself, the management account for any member; none attached: `EffectivePolicyNotFoundException`.

Pages: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_declarative.html
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

TYPE = "DECLARATIVE_POLICY_EC2"
_CRITERIA_KEYS = {"allowed_image_providers": "ImageProviders", "allowed_image_names": "ImageNames",
                  "allowed_marketplace_product_codes": "MarketplaceProductCodes"}


def _merge(into: dict[str, Any], doc: dict[str, Any]) -> None:
    for k, v in doc.items():
        if not isinstance(v, dict):
            into[k] = v
        elif "@@assign" in v:
            into[k] = v["@@assign"]
        elif "@@append" in v:
            into[k] = list(into.get(k) or []) + list(v["@@append"])
        else:
            child = into.get(k) if isinstance(into.get(k), dict) else {}
            _merge(child, v)
            into[k] = child


def effective_document(account: str) -> dict[str, Any] | None:
    from ..orgs import _backend_of
    from .scp import levels, policy_type_enabled

    found = _backend_of(account)
    if found is None:
        return None
    backend, acc = found
    if not policy_type_enabled(backend, TYPE):
        return None
    merged: dict[str, Any] = {}
    seen = False
    for _target, pols in levels(backend, acc):
        for pol in pols:
            if pol.type != TYPE:
                continue
            try:
                _merge(merged, json.loads(pol.content or "{}"))
                seen = True
            except ValueError:
                continue
    return merged if seen else None


def allowed_images(account: str) -> dict[str, Any] | None:
    """{"state", "criteria"} the organization sets for the account, or None."""
    doc = effective_document(account)
    settings = ((doc or {}).get("ec2_attributes") or {}).get("allowed_images_settings")
    if not isinstance(settings, dict) or "state" not in settings:
        return None
    criteria = []
    for crit in (settings.get("image_criteria") or {}).values():
        c: dict[str, Any] = {}
        for k, name in _CRITERIA_KEYS.items():
            if crit.get(k):
                c[name] = list(crit[k])
        days = (crit.get("creation_date_condition") or {}).get("maximum_days_since_created")
        if days is not None:
            c["CreationDateCondition"] = {"MaximumDaysSinceCreated": int(days)}
        days = (crit.get("deprecation_time_condition") or {}).get("maximum_days_since_deprecated")
        if days is not None:
            c["DeprecationTimeCondition"] = {"MaximumDaysSinceDeprecated": int(days)}
        criteria.append(c)
    return {"state": str(settings["state"]), "criteria": criteria}


def describe_effective_policy(self: Any) -> str:
    from moto.organizations.exceptions import InvalidInputException
    from moto.core.exceptions import JsonRESTError

    params = json.loads(self.body or "{}")
    if params.get("PolicyType") != TYPE:  # moto 5.2.1 has no effective policies of other types
        raise InvalidInputException("You specified an invalid value.")
    target = params.get("TargetId") or self.current_account
    doc = effective_document(target)
    if doc is None:
        raise JsonRESTError("EffectivePolicyNotFoundException",
                            "We can't find an effective policy of the specified type for the target.")
    return json.dumps({"EffectivePolicy": {
        "PolicyContent": json.dumps(doc), "TargetId": target, "PolicyType": TYPE,
        "LastUpdatedTimestamp": datetime.now(timezone.utc).timestamp()}})



def apply() -> None:
    from moto.organizations.models import FakePolicy, FakeRoot
    from moto.organizations.responses import OrganizationsResponse

    for cls in (FakePolicy, FakeRoot):
        if TYPE not in cls.SUPPORTED_POLICY_TYPES:
            cls.SUPPORTED_POLICY_TYPES.append(TYPE)
    orig_init = FakePolicy.__init__

    def init(self: Any, organization: Any, **kwargs: Any) -> None:
        declarative = kwargs.get("Type") == TYPE
        orig_init(self, organization, **({**kwargs, "Type": "TAG_POLICY"} if declarative else kwargs))
        if declarative:  # moto knows no ARN format for it: AWS's is .../declarative_policy_ec2/p-x
            self.type = TYPE
            self._arn_format = self._arn_format.replace("tag_policy", "declarative_policy_ec2")

    FakePolicy.__init__ = init  # type: ignore[method-assign]
    OrganizationsResponse.describe_effective_policy = describe_effective_policy  # type: ignore[attr-defined]
