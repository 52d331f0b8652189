"""Instances: lifecycle transitions and RunInstances with the key-use check (moto Instance patches)."""

from __future__ import annotations

import copy
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError, MalformedAMIIdError
from moto.ec2.models.instances import Instance, InstanceBackend, InstanceState, StateReason

from .. import cloudtrail, kms_patches
from ..state import now, pending_seconds
from .common import (
    LAUNCH_FAIL_CODE,
    LAUNCH_FAIL_MESSAGE,
    caller_for,
    check_key_use,
    default_ebs_key_arn,
    find_image,
    find_snapshot_any,
    snapshot_visible_to,
)
from . import allowed_amis
from .images import ami_snapshot_refs


def _inst_state_get(self: Instance) -> InstanceState:
    real: InstanceState = self.__dict__["_emu_real_state"]
    pend = self.__dict__.get("_emu_pending")
    if pend is not None:
        if now() < pend["ready_at"]:
            return InstanceState("pending", 0)
        self.__dict__["_emu_pending"] = None
        if pend.get("fail"):
            real.name, real.code = "pending", 0
            Instance._emu_orig_terminate(self)
            self.state_reason = StateReason(LAUNCH_FAIL_MESSAGE, LAUNCH_FAIL_CODE)
            self._reason = f"Server.InternalError ({utcnow().strftime('%Y-%m-%d %H:%M:%S UTC')})"
            return real
    disp = self.__dict__.get("_emu_display")
    if disp is not None:
        if now() < disp[2]:
            return InstanceState(disp[0], disp[1])
        self.__dict__["_emu_display"] = None
    return real


def _inst_state_set(self: Instance, value: InstanceState) -> None:
    self.__dict__["_emu_real_state"] = value


def _inst_reason_get(self: Instance) -> Any:
    _ = self._state  # resolve a due transition first
    r = self.__dict__.get("_emu_state_reason")
    if r is None or not (r.code or r.message):
        return None
    return r


def _inst_reason_set(self: Instance, value: Any) -> None:
    self.__dict__["_emu_state_reason"] = value


def _inst_transition_reason(self: Instance) -> str | None:
    _ = self._state
    return self._reason


def _settle(self: Instance) -> None:
    """Resolve any pending transition now (before a state-changing call)."""
    _ = self._state
    self.__dict__["_emu_display"] = None
    self.__dict__["_emu_pending"] = None  # a still-pending launch is overtaken by the new transition


def _wrap_transition(name: str, transitional: tuple[str, int] | None) -> None:
    orig = getattr(Instance, name)
    if name == "terminate":
        Instance._emu_orig_terminate = orig  # type: ignore[attr-defined]

    def wrapper(self: Instance, *a: Any, **kw: Any) -> Any:
        _settle(self)
        prev = copy.copy(self.__dict__["_emu_real_state"])
        was = prev.name
        res = orig(self, *a, **kw)
        if transitional and was != self.__dict__["_emu_real_state"].name:
            self.__dict__["_emu_display"] = (transitional[0], transitional[1], now() + pending_seconds())
        return res

    setattr(Instance, name, wrapper)


_orig_run_instances = InstanceBackend.run_instances


def launch_keys(backend: Any, refs: list[dict[str, Any]]) -> list[str]:
    """The keys EC2 uses for a launch: each encrypted snapshot's key, and the launcher's EBS default key
    for snapshots it does not own when that is a customer managed key (new volumes are encrypted with
    it; EC2 user guide "Use encryption with EBS-backed AMIs")."""
    keys: list[str] = []
    for m in refs:
        ebs = m["Ebs"]
        if not (ebs.get("Encrypted") and ebs.get("KmsKeyId")):
            continue
        if ebs["KmsKeyId"] not in keys:
            keys.append(ebs["KmsKeyId"])
        snap = find_snapshot_any(backend.region_name, ebs.get("SnapshotId") or "")
        if snap is not None and snap.owner_id != backend.account_id:
            default = default_ebs_key_arn(backend)
            key = kms_patches.lookup_key_by_ref(default, backend.account_id, backend.region_name)
            if key is not None and key.key_manager != "AWS" and key.arn not in keys:
                keys.append(key.arn)
    return keys


def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                  **kwargs: Any) -> Any:
    caller = caller_for(self)
    ami = None
    if image_id:
        if not image_id.startswith("ami-"):
            raise MalformedAMIIdError([image_id])
        ami = find_image(self.region_name, image_id, self.account_id)
        if ami is None:
            raise InvalidAMIIdError(image_id)
        allowed_amis.refuse_unless_allowed(ami, self.account_id, self.region_name)
        if ami.state != "available":
            raise EC2ClientError("InvalidAMIID.Unavailable", f"AMI {image_id} is {ami.state}, and cannot be run")
    refs = ami_snapshot_refs(ami) if ami is not None and ami.__dict__.get("_emu_bdms") is not None else []
    if refs and "block_device_mappings" not in kwargs and not kwargs.get("launch_template"):
        mappings = []
        for m in refs:
            ebs = m["Ebs"]
            snap = find_snapshot_any(self.region_name, ebs.get("SnapshotId") or "")
            enc = bool(ebs.get("Encrypted"))
            key = None
            if enc:
                key = ebs.get("KmsKeyId") if (snap is not None and snap.owner_id == self.account_id) \
                    else default_ebs_key_arn(self)
            mappings.append({"DeviceName": m["DeviceName"],
                             "Ebs": {"VolumeSize": ebs.get("VolumeSize"), "VolumeType": ebs.get("VolumeType"),
                                     "SnapshotId": ebs.get("SnapshotId")
                                     if snap is not None and snapshot_visible_to(snap, self.account_id) else None,
                                     "Encrypted": enc, "KmsKeyId": key,
                                     "DeleteOnTermination": ebs.get("DeleteOnTermination", True)}})
        kwargs["block_device_mappings"] = mappings
    reservation = _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    keys = launch_keys(self, refs)
    for inst in reservation.instances:
        fail = None
        for k in keys:
            ok, karn, _d = check_key_use(k, caller, "RunInstances", inst.id, self.region_name,
                                         {"imageId": image_id})
            if not ok:
                fail = f"key {karn} not usable"
        inst.__dict__["_emu_pending"] = {"ready_at": now() + pending_seconds(), "fail": fail}
    cloudtrail.record(
        account=self.account_id, region=self.region_name, caller=caller,
        event_source="ec2.amazonaws.com", event_name="RunInstances", read_only=False,
        request_parameters={"instancesSet": {"items": [{"imageId": image_id, "minCount": count,
                                                        "maxCount": count}]},
                            "instanceType": kwargs.get("instance_type")},
        response_elements={"reservationId": reservation.id, "ownerId": self.account_id,
                           "instancesSet": {"items": [{"instanceId": i.id, "imageId": image_id,
                                                       "currentState": {"code": 0, "name": "pending"}}
                                                      for i in reservation.instances]}},
        resources=[{"ResourceType": "AWS::EC2::Instance", "ResourceName": i.id} for i in reservation.instances]
        + [{"ResourceType": "AWS::EC2::Ami", "ResourceName": image_id or ""}],
    )
    return reservation


def apply() -> None:
    Instance._state = property(_inst_state_get, _inst_state_set)  # type: ignore[attr-defined]
    Instance.state_reason = property(_inst_reason_get, _inst_reason_set)  # type: ignore[assignment]
    Instance.state_transition_reason = property(_inst_transition_reason)  # type: ignore[assignment]
    _wrap_transition("terminate", ("shutting-down", 32))
    _wrap_transition("stop", ("stopping", 64))
    _wrap_transition("start", ("pending", 0))
    InstanceBackend.run_instances = run_instances  # type: ignore[assignment]
