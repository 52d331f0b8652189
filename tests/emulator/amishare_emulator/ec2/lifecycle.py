"""Image lifecycle calls moto 5.2.1 lacks (EC2 API reference: EnableImageDeprecation,
DisableImageDeprecation, EnableImageDeregistrationProtection, DisableImageDeregistrationProtection,
CopyImage `SnapshotCopyCompletionDurationMinutes`):

- EnableImageDeprecation: only the owner; `DeprecateAt` not in the past and at most 10 years ahead,
  seconds rounded to the minute; DescribeImages shows `DeprecationTime`.
- Deregistration protection: only the owner; DescribeImages shows `DeregistrationProtection`
  (`disabled`, `enabled-without-cooldown`, `enabled-with-cooldown`); a protected image cannot be
  deregistered. Disabling a protection enabled `WithCooldown` keeps the image protected for 24 hours
  (shown as `disabled-until TIME`; the control endpoint `/_emulator/cooldown/{image}` ends it).
- CopyImage `SnapshotCopyCompletionDurationMinutes`: 15 to 2880 in steps of 15, else
  `InvalidParameterValue`; the copy's snapshots show `TransferType: time-based` and
  `CompletionDurationMinutes`.

Assumptions (not verified against AWS, documented in the README): the error code of a refused
DeregisterImage (`OperationNotPermitted`, as for TerminateInstances of a protected instance) and the
`disabled-until TIME` wording.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.responses.amis import AmisResponse

from .common import find_image

COOLDOWN = timedelta(hours=24)
MAX_DEPRECATE = timedelta(days=3650)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _owned(backend: Any, ami_id: str) -> Ami:
    ami = backend.amis.get(ami_id)
    if ami is None:
        if find_image(backend.region_name, ami_id, backend.account_id) is not None:
            raise EC2ClientError("AuthFailure", f"Not authorized for image:{ami_id}")
        raise InvalidAMIIdError(ami_id)
    return ami


def _cooldown_until(ami: Ami) -> datetime | None:
    until = ami.__dict__.get("_emu_cooldown_until")
    return until if until is not None and _now() < until else None


def _protection(ami: Ami) -> str:
    if _cooldown_until(ami) is not None:
        return f"disabled-until {_iso(ami.__dict__['_emu_cooldown_until'])}"
    return ami.__dict__.get("_emu_protection", "disabled")


def _deprecation_time(ami: Ami) -> str | None:
    t = ami.__dict__.get("_emu_deprecate_at")
    return _iso(t) if t is not None else None


def _parse_time(value: Any) -> datetime:
    """`DeprecateAt` as moto's request parser gives it (a datetime, or the raw text)."""
    if not value:
        raise EC2ClientError("MissingParameter", "The request must contain the parameter DeprecateAt")
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise EC2ClientError("InvalidParameterValue", f"Invalid value '{value}' for DeprecateAt") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)


def enable_image_deprecation(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    at = _parse_time(self._get_param("DeprecateAt"))
    self.error_on_dryrun()
    ami = _owned(self.ec2_backend, ami_id)
    now = _now()
    if at < now - timedelta(minutes=1):
        raise EC2ClientError("InvalidParameterValue", "DeprecateAt can't be in the past")
    if at > now + MAX_DEPRECATE:
        raise EC2ClientError("InvalidParameterValue", "DeprecateAt can't be more than 10 years from now")
    # EC2 rounds the seconds to the nearest minute
    rounded = (at + timedelta(seconds=30)).replace(second=0, microsecond=0)
    ami.__dict__["_emu_deprecate_at"] = rounded
    return ActionResult({"Return": True})


def disable_image_deprecation(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = _owned(self.ec2_backend, ami_id)
    ami.__dict__.pop("_emu_deprecate_at", None)
    return ActionResult({"Return": True})


def enable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    with_cooldown = str(self._get_param("WithCooldown", "false")).lower() == "true"
    self.error_on_dryrun()
    ami = _owned(self.ec2_backend, ami_id)
    ami.__dict__.pop("_emu_cooldown_until", None)
    ami.__dict__["_emu_protection"] = "enabled-with-cooldown" if with_cooldown else "enabled-without-cooldown"
    return ActionResult({"Return": "true"})


def disable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = _owned(self.ec2_backend, ami_id)
    if ami.__dict__.get("_emu_protection") == "enabled-with-cooldown":
        ami.__dict__["_emu_cooldown_until"] = _now() + COOLDOWN
    ami.__dict__["_emu_protection"] = "disabled"
    return ActionResult({"Return": "true"})


def end_cooldown(image_id: str) -> bool:
    """Control endpoint helper: let the 24 hours pass for one image."""
    from moto.ec2.models import ec2_backends

    for acct in list(ec2_backends.keys()):
        for region in list(ec2_backends[acct].keys()):
            ami = ec2_backends[acct][region].amis.get(image_id)
            if ami is not None:
                ami.__dict__.pop("_emu_cooldown_until", None)
                return True
    return False


_orig_deregister = AmiBackend.deregister_image


def deregister_image(self: AmiBackend, ami_id: str) -> None:
    ami = self.amis.get(ami_id)
    if ami is not None:
        protection = _protection(ami)
        if protection != "disabled":
            raise EC2ClientError(
                "OperationNotPermitted",
                f"The image {ami_id} can't be deregistered: deregistration protection is {protection}",
            )
    _orig_deregister(self, ami_id)


def _duration(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        minutes = -1
    if not 15 <= minutes <= 2880 or minutes % 15:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ({value}) for parameter SnapshotCopyCompletionDurationMinutes is invalid. "
            "It must be between 15 and 2880 minutes, in 15 minute increments.",
        )
    return minutes


_orig_resp_copy_image = None


def resp_copy_image(self: AmisResponse) -> ActionResult:
    minutes = _duration(self._get_param("SnapshotCopyCompletionDurationMinutes"))
    result = _orig_resp_copy_image(self)  # type: ignore[misc]
    if minutes is not None:
        image_id = result.result["ImageId"]  # type: ignore[index]
        ami = self.ec2_backend.amis[image_id]
        for m in ami.__dict__.get("_emu_bdms") or []:
            snap = self.ec2_backend.snapshots.get((m.get("Ebs") or {}).get("SnapshotId"))
            if snap is not None:
                snap.transfer_type = "time-based"
                snap.completion_duration_minutes = minutes
        ami.__dict__["_emu_completion_minutes"] = minutes
    return result


def apply() -> None:
    global _orig_resp_copy_image
    Ami.deprecation_time = property(_deprecation_time)  # type: ignore[attr-defined]
    Ami.deregistration_protection = property(_protection)  # type: ignore[attr-defined]
    AmiBackend.deregister_image = deregister_image  # type: ignore[assignment]
    AmisResponse.enable_image_deprecation = enable_image_deprecation  # type: ignore[attr-defined]
    AmisResponse.disable_image_deprecation = disable_image_deprecation  # type: ignore[attr-defined]
    AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection  # type: ignore
    AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection  # type: ignore
    _orig_resp_copy_image = AmisResponse.copy_image
    AmisResponse.copy_image = resp_copy_image  # type: ignore[assignment]
