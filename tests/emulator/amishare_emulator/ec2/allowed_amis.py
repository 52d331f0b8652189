"""Allowed AMIs (EC2 user guide "Control the discovery and use of AMIs in Amazon EC2 with Allowed AMIs";
EC2 API reference GetAllowedImagesSettings, EnableAllowedImagesSettings, DisableAllowedImagesSettings,
ReplaceImageCriteriaInAllowedImagesSettings, ImageCriterion, DescribeImages `ImageAllowed`).

- Per account AND region: State `disabled` (default) | `enabled` | `audit-mode`, ImageCriteria (up to
  10 criteria; OR across criteria, AND across the parameters of one criterion, OR within a parameter):
  ImageProviders (`amazon`, `aws-marketplace`, `aws-backup-vault`, a 12-digit account id, `none` = the
  account's own AMIs only), ImageNames (wildcards `*` `?`), MarketplaceProductCodes,
  CreationDateCondition.MaximumDaysSinceCreated, DeprecationTimeCondition.MaximumDaysSinceDeprecated.
- "The Allowed AMIs feature does not restrict the AMIs owned by your account": own AMIs always pass.
- `enabled`: a disallowed AMI is not discoverable (DescribeImages leaves it out; by id:
  InvalidAMIID.NotFound) and RunInstances, Auto Scaling launches and CopyImage refuse it as not found
  (the emulator's choice of error: AWS documents the effect, not the code). `audit-mode`: nothing is
  restricted, DescribeImages shows `ImageAllowed` true/false (so does `enabled`); filter `image-allowed`.
- An EC2 declarative policy of the account's organization (guardrails/declarative.py) overrides the
  account's settings in every region: `ManagedBy` = `declarative-policy`, and the account's own calls to
  change them are refused (`OperationNotPermitted`, the emulator's choice of code).

Pages: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-allowed-amis.html,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImageCriterion.html
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.amis import Ami
from moto.ec2.responses.amis import AmisResponse

from ..policy_eval import wild_re
from ..state import current_caller

STATES = ("enabled", "audit-mode")
_LOCK = threading.Lock()
_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {}  # (account, region) -> {"state", "criteria"}


def reset() -> None:
    with _LOCK:
        _SETTINGS.clear()


def account_settings(account: str, region: str) -> dict[str, Any]:
    with _LOCK:
        return dict(_SETTINGS.get((account, region)) or {"state": "disabled", "criteria": []})


def effective(account: str, region: str) -> dict[str, Any]:
    """{"state", "criteria", "managed_by"} in force for the account in the region."""
    from ..guardrails import declarative

    managed = declarative.allowed_images(account)
    if managed is not None:
        return {**managed, "managed_by": "declarative-policy"}
    return {**account_settings(account, region), "managed_by": "account"}


def _days_since(t: Any) -> float | None:
    if t is None:
        return None
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - t).total_seconds() / 86400


def _provider_matches(provider: str, ami: Ami, account: str) -> bool:
    if provider == "none":
        return False  # own AMIs are allowed anyway; `none` allows nothing else
    if re.fullmatch(r"\d{12}", provider):
        return ami.owner_id == provider
    # `amazon`, `aws-marketplace`: the AMI's owner alias; `aws-backup-vault`: AMIs AWS Backup made
    # (never in the emulator)
    return provider in ("amazon", "aws-marketplace") and (ami.owner_alias or "") == provider


def criterion_matches(c: dict[str, Any], ami: Ami, account: str) -> bool:
    providers = c.get("ImageProviders") or []
    if providers and not any(_provider_matches(p, ami, account) for p in providers):
        return False
    names = c.get("ImageNames") or []
    if names and not any(wild_re(n, ignore_case=False).match(ami.name or "") for n in names):
        return False
    codes = c.get("MarketplaceProductCodes") or []
    if codes and not set(codes) & set(getattr(ami, "product_codes", set()) or set()):
        return False
    created = (c.get("CreationDateCondition") or {}).get("MaximumDaysSinceCreated")
    if created is not None:
        age = _days_since(getattr(ami, "creation_date", None))
        if age is None or age > int(created):
            return False
    deprecated = (c.get("DeprecationTimeCondition") or {}).get("MaximumDaysSinceDeprecated")
    if deprecated is not None:
        since = _days_since(ami.__dict__.get("_emu_deprecate_at"))
        if since is not None and since > int(deprecated):
            return False
    return True


def image_allowed(ami: Ami, account: str, region: str) -> bool | None:
    """None when Allowed AMIs is disabled, else whether the AMI meets the criteria (own AMIs: True)."""
    eff = effective(account, region)
    if eff["state"] not in STATES:
        return None
    if ami.owner_id == account:
        return True
    return any(criterion_matches(c, ami, account) for c in eff["criteria"])


def discoverable(ami: Ami, account: str, region: str) -> bool:
    """False only when Allowed AMIs is `enabled` and the AMI is not allowed."""
    return not (effective(account, region)["state"] == "enabled" and image_allowed(ami, account, region) is False)


def refuse_unless_allowed(ami: Ami, account: str, region: str) -> None:
    if not discoverable(ami, account, region):
        raise EC2ClientError("InvalidAMIID.NotFound", f"The image id '[{ami.id}]' does not exist")


def _image_allowed_attr(self: Ami) -> bool | None:
    c = current_caller()
    return image_allowed(self, c.account, self.ec2_backend.region_name) if c is not None else None


# ----------------------------------------------------------------------------- the API
def _refuse_if_managed(account: str, region: str) -> None:
    if effective(account, region)["managed_by"] == "declarative-policy":
        raise EC2ClientError("OperationNotPermitted", "The Allowed AMIs settings of this account are managed by "
                             "a declarative policy of its organization and cannot be changed by the account.")


def _set(account: str, region: str, **kw: Any) -> None:
    with _LOCK:
        cur = _SETTINGS.setdefault((account, region), {"state": "disabled", "criteria": []})
        cur.update(kw)


def get_allowed_images_settings(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    eff = effective(self.current_account, self.region)
    out: dict[str, Any] = {"State": eff["state"], "ManagedBy": eff["managed_by"]}
    if eff["criteria"]:
        out["ImageCriteria"] = eff["criteria"]
    return ActionResult(out)


def enable_allowed_images_settings(self: AmisResponse) -> ActionResult:
    state = self._get_param("AllowedImagesSettingsState")
    self.error_on_dryrun()
    if state not in STATES:
        raise EC2ClientError("InvalidParameterValue",
                             f"Value ({state}) for parameter AllowedImagesSettingsState is invalid. "
                             "Valid values: enabled, audit-mode")
    _refuse_if_managed(self.current_account, self.region)
    _set(self.current_account, self.region, state=state)
    return ActionResult({"AllowedImagesSettingsState": state})


def disable_allowed_images_settings(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    _refuse_if_managed(self.current_account, self.region)
    _set(self.current_account, self.region, state="disabled")
    return ActionResult({"AllowedImagesSettingsState": "disabled"})


def _criteria(raw: Any) -> list[dict[str, Any]]:
    out = []
    for c in raw or []:
        crit: dict[str, Any] = {}
        for k in ("ImageProviders", "ImageNames", "MarketplaceProductCodes"):
            if c.get(k):
                crit[k] = [str(v) for v in c[k]]
        for k, inner in (("CreationDateCondition", "MaximumDaysSinceCreated"),
                         ("DeprecationTimeCondition", "MaximumDaysSinceDeprecated")):
            if c.get(k) and c[k].get(inner) is not None:
                crit[k] = {inner: int(c[k][inner])}
        if "none" in crit.get("ImageProviders", []) and len(crit["ImageProviders"]) > 1:
            raise EC2ClientError("InvalidParameterValue", "When none is specified, no other image providers "
                                 "can be specified.")
        out.append(crit)
    if len(out) > 10:
        raise EC2ClientError("InvalidParameterValue", "You can specify up to 10 image criteria.")
    return out


def replace_image_criteria(self: AmisResponse) -> ActionResult:
    criteria = _criteria(self._get_param("ImageCriteria"))
    self.error_on_dryrun()
    _refuse_if_managed(self.current_account, self.region)
    _set(self.current_account, self.region, criteria=criteria)
    return ActionResult({"ReturnValue": True})


def apply() -> None:
    Ami.image_allowed = property(_image_allowed_attr)  # type: ignore[attr-defined]
    AmisResponse.get_allowed_images_settings = get_allowed_images_settings  # type: ignore[attr-defined]
    AmisResponse.enable_allowed_images_settings = enable_allowed_images_settings  # type: ignore[attr-defined]
    AmisResponse.disable_allowed_images_settings = disable_allowed_images_settings  # type: ignore[attr-defined]
    AmisResponse.replace_image_criteria_in_allowed_images_settings = replace_image_criteria  # type: ignore
