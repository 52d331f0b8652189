"""Extensions of moto's EC2 (AMIs, snapshots, volumes, instances) for the cross-account
encrypted-AMI workflow.  Applied by monkeypatching at server start (see server.py)."""

from __future__ import annotations

import copy
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidAMIAttributeItemValueError,
    InvalidAMIIdError,
    InvalidSnapshotIdError,
    MalformedAMIIdError,
)
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.models.instances import Instance, InstanceBackend, InstanceState, StateReason
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import generic_filter, random_ami_id, random_snapshot_id

from . import cloudtrail, kms_patches
from .keyuse import evaluate_key_use
from .state import current_caller, now, pending_seconds, record_decision

LAUNCH_FAIL_CODE = "Client.InternalError"
LAUNCH_FAIL_MESSAGE = "Client.InternalError: Client error on launch"
COPY_FAIL_CODE = "Client.InvalidKMSKey"
SNAPSHOT_FAIL_MESSAGE = "Given key ID is not accessible"


# --------------------------------------------------------------------------- helpers
def backends_in_region(region: str) -> list[Any]:
    out = []
    for acct in list(ec2_backends.keys()):
        per = ec2_backends[acct]
        if region in list(per.keys()):
            out.append(per[region])
    return out


def image_visible_to(ami: Ami, account: str) -> bool:
    if ami.owner_id == account:
        return True
    for lp in ami.launch_permissions:
        if lp.get("UserId") == account or lp.get("Group") == "all":
            return True
    return False


def snapshot_visible_to(snap: Snapshot, account: str) -> bool:
    return (
        snap.owner_id == account
        or account in snap.create_volume_permission_userids
        or "all" in snap.create_volume_permission_groups
    )


def find_image(region: str, ami_id: str, account: str) -> Ami | None:
    for b in backends_in_region(region):
        ami = b.amis.get(ami_id)
        if ami is not None and image_visible_to(ami, account):
            return ami
    return None


def find_snapshot(region: str, snap_id: str, account: str) -> Snapshot | None:
    for b in backends_in_region(region):
        s = b.snapshots.get(snap_id)
        if s is not None and snapshot_visible_to(s, account):
            return s
    return None


def find_snapshot_any(region: str, snap_id: str) -> Snapshot | None:
    for b in backends_in_region(region):
        s = b.snapshots.get(snap_id)
        if s is not None:
            return s
    return None


def _caller_for(backend: Any) -> Any:
    c = current_caller()
    if c is None or c.account != backend.account_id:
        from .state import Caller

        c = Caller(
            account=backend.account_id,
            arn=f"arn:aws:iam::{backend.account_id}:root",
            access_key="",
            kind="Root",
            principal_id=backend.account_id,
            region=backend.region_name,
        )
    return c


def default_ebs_key_arn(backend: Any) -> str:
    """The caller's EBS default key (the aws/ebs AWS managed key unless modified)."""
    if backend.default_kms_key_id:
        return backend.default_kms_key_id
    return kms_patches.aws_managed_key(backend.account_id, backend.region_name, "alias/aws/ebs").arn


def _set_pending(obj: Any, seconds: float | None = None, fail: str | None = None) -> None:
    t = now()
    obj.__dict__["_emu_started"] = t
    obj.__dict__["_emu_ready_at"] = t + (pending_seconds() if seconds is None else seconds)
    obj.__dict__["_emu_fail"] = fail


def _is_pending(obj: Any) -> bool:
    ready = obj.__dict__.get("_emu_ready_at")
    return ready is not None and now() < ready


def _progress(obj: Any) -> int:
    ready = obj.__dict__.get("_emu_ready_at")
    start = obj.__dict__.get("_emu_started")
    if ready is None or start is None or now() >= ready:
        return 100
    span = max(ready - start, 1e-6)
    return max(0, min(99, int(100 * (now() - start) / span)))


# --------------------------------------------------------------------------- key use
def check_key_use(
    key_ref: str | None, caller: Any, operation: str, resource_id: str, event_region: str,
    extra_params: dict[str, Any] | None = None,
) -> tuple[bool, str | None, Any]:
    """Evaluate the key-use rule for EC2 acting for `caller`; record decision + CloudTrail on denial.
    Returns (allowed, key_arn, decision)."""
    key = kms_patches.lookup_key_by_ref(key_ref) if key_ref else None
    key_arn = key.arn if key is not None else (key_ref or "")
    decision = evaluate_key_use(key, caller.arn, caller.account)
    record_decision(
        {
            "operation": operation,
            "resource": resource_id,
            "caller": caller.arn,
            "caller_account": caller.account,
            "key": key_arn,
            "key_manager": getattr(key, "key_manager", None),
            **decision.to_json(),
        }
    )
    if not decision.allowed:
        action = decision.missing_action or "kms:CreateGrant"
        msg = (
            f"User: {caller.arn} is not authorized to perform: {action} on resource: {key_arn} "
            f"because no resource-based policy allows the {action} action"
        )
        if decision.reasons and decision.reasons[0].startswith("explicit Deny") or any(
            r.startswith("explicit Deny") for r in decision.reasons
        ):
            msg = (
                f"User: {caller.arn} is not authorized to perform: {action} on resource: {key_arn} "
                f"with an explicit deny in a resource-based policy"
            )
        params = {
            "keyId": key_arn,
            "granteePrincipal": f"{caller.account}:aws:ec2-infrastructure",
            "operations": ["Decrypt", "Encrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                           "ReEncryptTo", "CreateGrant", "DescribeKey"],
            "constraints": {"encryptionContextSubset": {"aws:ebs:id": resource_id}},
        }
        if extra_params:
            params.update(extra_params)
        cloudtrail.record(
            account=caller.account,
            region=event_region,
            caller=caller,
            event_source="kms.amazonaws.com",
            event_name="CreateGrant",
            read_only=False,
            request_parameters=params,
            error_code="AccessDenied",
            error_message=msg,
            resources=[{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}],
            invoked_by="ec2.amazonaws.com",
        )
    return decision.allowed, key_arn, decision


# --------------------------------------------------------------------------- snapshots
def _snap_status_get(self: Snapshot) -> str:
    if _is_pending(self):
        return "pending"
    if self.__dict__.get("_emu_fail"):
        return "error"
    return self.__dict__.get("_emu_status", "completed")


def _snap_status_set(self: Snapshot, value: str) -> None:
    self.__dict__["_emu_status"] = value


def _snap_progress(self: Snapshot) -> str:
    if self.__dict__.get("_emu_fail") and not _is_pending(self):
        return "0%"
    return f"{_progress(self)}%"


def _snap_state_message(self: Snapshot) -> str | None:
    if self.__dict__.get("_emu_fail") and not _is_pending(self):
        return self.__dict__["_emu_fail"]
    return None


def _snap_volume_size(self: Snapshot) -> int:
    return self.__dict__.get("_emu_volume_size") or self.volume.size


_orig_create_snapshot = EBSBackend.create_snapshot


def create_snapshot(self: Any, volume_id: str, description: str, owner_id: str | None = None,
                    from_ami: str | None = None) -> Snapshot:
    snap = _orig_create_snapshot(self, volume_id, description, owner_id, from_ami)
    vol = snap.volume
    snap.encrypted = bool(vol.encrypted)
    snap.kms_key_id = vol.kms_key_id if vol.encrypted else None
    snap.__dict__["_emu_volume_size"] = vol.size
    if not from_ami:
        _set_pending(snap)
    return snap


def resolve_kms_ref(backend: Any, ref: str) -> str | None:
    key = kms_patches.lookup_key_by_ref(ref, backend.account_id, backend.region_name)
    return key.arn if key is not None else None


def copy_snapshot(self: Any, source_snapshot_id: str, source_region: str, description: str,
                  kms_key_id: str | None, encrypted: bool | None = None, _for_image: str | None = None,
                  _fail: str | None = None) -> Snapshot:
    caller = _caller_for(self)
    source_region = source_region or self.region_name
    src = find_snapshot(source_region, source_snapshot_id, self.account_id)
    if src is None:
        raise InvalidSnapshotIdError()
    if kms_key_id and not (encrypted or src.encrypted):
        raise EC2ClientError("InvalidParameterDependency",
                             "The parameter KmsKeyId requires the parameter Encrypted to be set.")
    dest_key: str | None = None
    if kms_key_id:
        dest_key = resolve_kms_ref(self, kms_key_id) or kms_key_id
    elif src.encrypted:
        if src.owner_id == self.account_id and source_region == self.region_name:
            dest_key = src.kms_key_id
        else:
            dest_key = default_ebs_key_arn(self)
    elif encrypted or getattr(self, "ebs_encryption_by_default", False):
        dest_key = default_ebs_key_arn(self)
    snap = Snapshot(
        self,
        random_snapshot_id(),
        volume=src.volume,
        description=description or "",
        encrypted=dest_key is not None,
        kms_key_id=dest_key,
        owner_id=self.account_id,
    )
    snap.__dict__["_emu_volume_size"] = _snap_volume_size(src)
    snap.__dict__["_emu_source"] = (source_region, source_snapshot_id)
    fail = _fail
    if fail is None:
        if src.encrypted and src.kms_key_id:
            ok, _arn, _d = check_key_use(src.kms_key_id, caller, _for_image and "CopyImage" or "CopySnapshot",
                                         snap.id, source_region)
            if not ok:
                fail = SNAPSHOT_FAIL_MESSAGE
        if fail is None and dest_key and dest_key != src.kms_key_id:
            ok, _arn, _d = check_key_use(dest_key, caller, _for_image and "CopyImage" or "CopySnapshot",
                                         snap.id, self.region_name)
            if not ok:
                fail = SNAPSHOT_FAIL_MESSAGE
    _set_pending(snap, fail=fail)
    self.snapshots[snap.id] = snap
    return snap


def describe_snapshots(self: Any, snapshot_ids: list[str] | None = None, filters: Any = None,
                       owner_ids: list[str] | None = None,
                       restorable_by: list[str] | None = None) -> list[Snapshot]:
    me = self.account_id
    pool: list[Snapshot] = []
    for b in backends_in_region(self.region_name):
        for s in list(b.snapshots.values()):
            if snapshot_visible_to(s, me):
                pool.append(s)
    if snapshot_ids:
        found = [s for s in pool if s.id in snapshot_ids]
        if len({s.id for s in found}) < len(set(snapshot_ids)):
            raise InvalidSnapshotIdError()
        pool = found
    if owner_ids:
        owners = {me if o == "self" else o for o in owner_ids}
        pool = [s for s in pool if s.owner_id in owners]
    if restorable_by:
        keep = []
        for s in pool:
            for r in restorable_by:
                if r == "self" and (s.owner_id == me or me in s.create_volume_permission_userids):
                    keep.append(s)
                    break
                if r == "all" and "all" in s.create_volume_permission_groups:
                    keep.append(s)
                    break
                if r not in ("self", "all") and s.owner_id == me and r in s.create_volume_permission_userids:
                    keep.append(s)
                    break
        pool = keep
    if filters:
        pool = generic_filter(filters, pool)
    return pool


def _snapshot_owned(backend: Any, snapshot_id: str) -> Snapshot:
    s = backend.snapshots.get(snapshot_id)
    if s is None:
        if find_snapshot(backend.region_name, snapshot_id, backend.account_id) is not None:
            raise EC2ClientError("AuthFailure", f"Not authorized for snapshot:{snapshot_id}")
        raise InvalidSnapshotIdError()
    return s


def add_create_volume_permission(self: Any, snapshot_id: str, user_ids: list[str], groups: list[str]) -> None:
    snap = _snapshot_owned(self, snapshot_id)
    for u in user_ids or []:
        if len(u) != 12 or not u.isdigit():
            raise InvalidAMIAttributeItemValueError("userId", u)
    if groups and groups != ["all"]:
        raise InvalidAMIAttributeItemValueError("UserGroup", groups)
    if snap.encrypted:
        key = kms_patches.lookup_key_by_ref(snap.kms_key_id) if snap.kms_key_id else None
        if key is not None and key.key_manager == "AWS" and user_ids:
            raise EC2ClientError(
                "InvalidParameter",
                "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot.",
            )
        if groups:
            raise EC2ClientError("InvalidParameter", "Encrypted snapshots with EBS default key cannot be shared"
                                 if key is not None and key.key_manager == "AWS"
                                 else "Encrypted snapshots cannot be made public.")
    snap.create_volume_permission_userids.update(user_ids or [])
    snap.create_volume_permission_groups.update(groups or [])


def remove_create_volume_permission(self: Any, snapshot_id: str, user_ids: list[str] | None = None,
                                    groups: Any = None) -> None:
    snap = _snapshot_owned(self, snapshot_id)
    if groups and list(groups) != ["all"]:
        raise InvalidAMIAttributeItemValueError("UserGroup", groups)
    snap.create_volume_permission_userids.difference_update(user_ids or [])
    snap.create_volume_permission_groups.difference_update(groups or [])


def get_create_volume_permission_groups(self: Any, snapshot_id: str) -> set[str]:
    return _snapshot_owned(self, snapshot_id).create_volume_permission_groups


def get_create_volume_permission_userids(self: Any, snapshot_id: str) -> set[str]:
    return _snapshot_owned(self, snapshot_id).create_volume_permission_userids


_orig_create_volume = EBSBackend.create_volume


def create_volume(self: Any, size: int, zone_name: str, snapshot_id: str | None = None,
                  encrypted: bool = False, kms_key_id: str | None = None, **kw: Any) -> Any:
    if snapshot_id:
        snap = self.snapshots.get(snapshot_id) or find_snapshot(self.region_name, snapshot_id, self.account_id)
        if snap is None:
            raise InvalidSnapshotIdError()
        if size is None:
            size = _snap_volume_size(snap)
        if snap.encrypted:
            encrypted = True
        if encrypted and not kms_key_id:
            if snap.encrypted and snap.owner_id == self.account_id:
                kms_key_id = snap.kms_key_id
            else:
                kms_key_id = default_ebs_key_arn(self)
        elif kms_key_id:
            kms_key_id = resolve_kms_ref(self, kms_key_id) or kms_key_id
        vol = _orig_create_volume(self, size, zone_name, None, encrypted, kms_key_id, **kw)
        vol.snapshot_id = snapshot_id
        return vol
    if encrypted and not kms_key_id:
        kms_key_id = default_ebs_key_arn(self)
    elif kms_key_id:
        kms_key_id = resolve_kms_ref(self, kms_key_id) or kms_key_id
    elif not encrypted and getattr(self, "ebs_encryption_by_default", False):
        encrypted, kms_key_id = True, default_ebs_key_arn(self)
    return _orig_create_volume(self, size, zone_name, None, encrypted, kms_key_id, **kw)


def _create_default_encryption_key(self: Any) -> str:
    return default_ebs_key_arn(self)


# --------------------------------------------------------------------------- images
def _ami_state_get(self: Ami) -> str:
    if _is_pending(self):
        return "pending"
    if self.__dict__.get("_emu_fail"):
        return "failed"
    return self.__dict__.get("_emu_state", "available")


def _ami_state_set(self: Ami, value: str) -> None:
    self.__dict__["_emu_state"] = value


def _ami_state_reason(self: Ami) -> dict[str, str] | None:
    fail = self.__dict__.get("_emu_fail")
    if fail and not _is_pending(self):
        return {"Code": COPY_FAIL_CODE, "Message": fail}
    return None


_orig_ami_bdm = Ami.block_device_mappings.fget  # type: ignore[attr-defined]


def _ami_bdms(self: Ami) -> list[dict[str, Any]]:
    bdms = self.__dict__.get("_emu_bdms")
    if bdms is None:
        return _orig_ami_bdm(self)
    out = []
    for m in bdms:
        m = copy.deepcopy(m)
        ebs = m.get("Ebs")
        if ebs is not None:
            ebs.pop("KmsKeyId", None)  # DescribeImages shows Encrypted, not the key (see README)
        out.append(m)
    return out


def ami_snapshot_refs(ami: Ami) -> list[dict[str, Any]]:
    """Internal view of an image's EBS mappings, including each snapshot's KmsKeyId."""
    bdms = ami.__dict__.get("_emu_bdms")
    if bdms is None:
        snap = ami.ebs_snapshot
        return [{"DeviceName": ami.root_device_name,
                 "Ebs": {"SnapshotId": snap.id, "VolumeSize": 15, "VolumeType": "standard",
                         "DeleteOnTermination": False, "Encrypted": bool(snap.encrypted),
                         **({"KmsKeyId": snap.kms_key_id} if snap.encrypted else {})}}]
    return [m for m in bdms if m.get("Ebs")]


def _new_ami(backend: Any, ami_id: str, *, name: str | None, description: str | None, source_ami: Ami | None,
             bdms: list[dict[str, Any]], root_device_name: str, extra: dict[str, Any]) -> Ami:
    ami = Ami(backend, ami_id, instance=None, source_ami=source_ami, name=name, description=description,
              root_device_name=root_device_name)
    # moto auto-creates a 15 GiB snapshot for every image; drop it, we carry real mappings
    backend.snapshots.pop(ami.ebs_snapshot.id, None)
    ami.__dict__["_emu_bdms"] = bdms
    ami.root_device_type = "ebs" if any(m.get("Ebs") for m in bdms) else "instance-store"
    for k, v in extra.items():
        if v is not None:
            setattr(ami, k, v)
    return ami


def register_image(self: Any, name: str | None = None, description: str | None = None, *,
                   block_device_mappings: list[dict[str, Any]] | None = None,
                   root_device_name: str | None = None, architecture: str | None = None,
                   virtualization_type: str | None = None, boot_mode: str | None = None,
                   ena_support: Any = None, imds_support: str | None = None,
                   tags: dict[str, str] | None = None) -> Ami:
    if not block_device_mappings:
        # moto's original behaviour (one unencrypted 15 GiB /dev/sda1 snapshot)
        ami = Ami(self, random_ami_id(), instance=None, source_ami=None, name=name, description=description)
        self.amis[ami.id] = ami
        return ami
    if name and any(a.name == name for a in self.amis.values()):
        raise EC2ClientError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI")
    bdms = []
    for m in block_device_mappings:
        dev = m.get("DeviceName")
        if "Ebs" in m and m["Ebs"] is not None:
            ebs_in = m["Ebs"]
            sid = ebs_in.get("SnapshotId")
            ebs: dict[str, Any] = {}
            if sid:
                snap = self.snapshots.get(sid) or find_snapshot(self.region_name, sid, self.account_id)
                if snap is None:
                    raise EC2ClientError("InvalidSnapshot.NotFound", f"The snapshot '{sid}' does not exist.")
                size = int(ebs_in.get("VolumeSize") or _snap_volume_size(snap))
                ebs.update({"SnapshotId": sid, "Encrypted": bool(snap.encrypted)})
                if snap.encrypted:
                    ebs["KmsKeyId"] = snap.kms_key_id
                if snap.owner_id == self.account_id and not snap.from_ami:
                    snap.from_ami = None  # keep moto's delete protection off; AWS reports InvalidSnapshot.InUse
            else:
                size = int(ebs_in.get("VolumeSize") or 8)
                enc = str(ebs_in.get("Encrypted", "false")).lower() == "true"
                ebs["Encrypted"] = enc
                if enc:
                    ebs["KmsKeyId"] = resolve_kms_ref(self, ebs_in["KmsKeyId"]) if ebs_in.get("KmsKeyId") \
                        else default_ebs_key_arn(self)
            dot = ebs_in.get("DeleteOnTermination")
            ebs["DeleteOnTermination"] = True if dot is None else str(dot).lower() == "true"
            ebs["VolumeSize"] = size
            ebs["VolumeType"] = ebs_in.get("VolumeType") or "gp2"
            for k in ("Iops", "Throughput"):
                if ebs_in.get(k) is not None:
                    ebs[k] = int(ebs_in[k])
            bdms.append({"DeviceName": dev, "Ebs": ebs})
        elif m.get("VirtualName"):
            bdms.append({"DeviceName": dev, "VirtualName": m["VirtualName"]})
        elif "NoDevice" in m:
            bdms.append({"DeviceName": dev, "NoDevice": ""})
    root = root_device_name or (bdms[0]["DeviceName"] if bdms else "/dev/xvda")
    ami = _new_ami(self, random_ami_id(), name=name, description=description, source_ami=None, bdms=bdms,
                   root_device_name=root,
                   extra={"architecture": architecture or "x86_64",
                          "virtualization_type": virtualization_type or "hvm",
                          "boot_mode": boot_mode})
    ami.__dict__["_emu_ena"] = ena_support
    ami.__dict__["_emu_imds"] = imds_support
    if tags:
        ami.add_tags(tags)
    _set_pending(ami)
    self.amis[ami.id] = ami
    return ami


def copy_image(self: Any, source_image_id: str, source_region: str, name: str | None = None,
               description: str | None = None, encrypted: bool | None = None,
               kms_key_id: str | None = None, tags: dict[str, str] | None = None,
               copy_image_tags: bool = False) -> Ami:
    caller = _caller_for(self)
    source_region = source_region or self.region_name
    if not source_image_id or not source_image_id.startswith("ami-"):
        raise MalformedAMIIdError([source_image_id])
    src = find_image(source_region, source_image_id, self.account_id)
    if src is None:
        raise InvalidAMIIdError(source_image_id)
    if src.state != "available":
        raise EC2ClientError("IncorrectState", f"Image {source_image_id} is in state {src.state}")
    if kms_key_id and not encrypted:
        raise EC2ClientError("InvalidParameterDependency",
                             "The parameter KmsKeyId requires the parameter Encrypted to be set.")
    new_id = random_ami_id()
    new_bdms = []
    fail: str | None = None
    key_checked: dict[str, bool] = {}
    for m in ami_snapshot_refs(src) + [x for x in (src.__dict__.get("_emu_bdms") or []) if not x.get("Ebs")]:
        if not m.get("Ebs"):
            new_bdms.append(copy.deepcopy(m))
            continue
        ebs = m["Ebs"]
        sid = ebs.get("SnapshotId")
        src_snap = find_snapshot_any(source_region, sid) if sid else None
        if src_snap is None:
            fail = fail or f"Source snapshot {sid} is not available"
            continue
        if not snapshot_visible_to(src_snap, self.account_id):
            # AWS: copying a shared AMI needs read access (createVolumePermission) on its snapshots
            raise EC2ClientError("InvalidRequest", "You do not have permission to access the storage of this ami")
        src_key = src_snap.kms_key_id if src_snap.encrypted else None
        # decide the destination key
        if kms_key_id:
            dest_key = resolve_kms_ref(self, kms_key_id) or kms_key_id
        elif src_snap.encrypted:
            if src.owner_id == self.account_id and source_region == self.region_name:
                dest_key = src_key
            else:
                dest_key = default_ebs_key_arn(self)
        elif encrypted or getattr(self, "ebs_encryption_by_default", False):
            dest_key = default_ebs_key_arn(self)
        else:
            dest_key = None
        snap_fail = None
        checks = [(src_key, source_region)]
        if dest_key and dest_key != src_key:
            checks.append((dest_key, self.region_name))
        for kref, reg in checks:
            if not kref:
                continue
            if kref not in key_checked:
                ok, karn, _d = check_key_use(kref, caller, "CopyImage", new_id, reg,
                                             {"sourceImageId": source_image_id})
                key_checked[kref] = ok
                if not ok:
                    fail = fail or f"{SNAPSHOT_FAIL_MESSAGE}: {karn}"
            if not key_checked[kref]:
                snap_fail = SNAPSHOT_FAIL_MESSAGE
        snap = Snapshot(self, random_snapshot_id(), volume=src_snap.volume,
                        description=f"Copied for DestinationAmi {new_id} from SourceAmi {source_image_id} "
                                    f"for SourceSnapshot {sid}. Task created on {utcnow().isoformat()}.",
                        encrypted=dest_key is not None, kms_key_id=dest_key, owner_id=self.account_id,
                        from_ami=new_id)
        snap.__dict__["_emu_volume_size"] = _snap_volume_size(src_snap)
        _set_pending(snap, fail=snap_fail)
        self.snapshots[snap.id] = snap
        nebs = {k: v for k, v in ebs.items() if k not in ("SnapshotId", "Encrypted", "KmsKeyId")}
        nebs.update({"SnapshotId": snap.id, "Encrypted": dest_key is not None})
        if dest_key:
            nebs["KmsKeyId"] = dest_key
        new_bdms.append({"DeviceName": m.get("DeviceName"), "Ebs": nebs})
    ami = _new_ami(self, new_id, name=name, description=description, source_ami=src, bdms=new_bdms,
                   root_device_name=src.root_device_name, extra={"boot_mode": getattr(src, "boot_mode", None)})
    ami.__dict__["_emu_source"] = (source_region, source_image_id)
    if copy_image_tags:
        try:
            ami.add_tags({t["key"]: t["value"] for t in src.get_tags()})
        except Exception:
            pass
    if tags:
        ami.add_tags(tags)
    _set_pending(ami, fail=fail)
    self.amis[ami.id] = ami
    cloudtrail.record(
        account=self.account_id, region=self.region_name, caller=caller,
        event_source="ec2.amazonaws.com", event_name="CopyImage", read_only=False,
        request_parameters={"sourceRegion": source_region, "sourceImageId": source_image_id,
                            "name": name, "encrypted": bool(encrypted), "kmsKeyId": kms_key_id},
        response_elements={"imageId": ami.id},
        resources=[{"ResourceType": "AWS::EC2::Ami", "ResourceName": ami.id}],
    )
    return ami


def describe_images(self: Any, ami_ids: list[str] | None = None, filters: dict[str, Any] | None = None,
                    exec_users: list[str] | None = None, owners: list[str] | None = None) -> list[Ami]:
    me = self.account_id
    pool: list[Ami] = []
    for b in backends_in_region(self.region_name):
        for a in list(b.amis.values()):
            if image_visible_to(a, me):
                pool.append(a)
    if ami_ids:
        bad = [i for i in ami_ids if not i.startswith("ami-")]
        if bad:
            raise MalformedAMIIdError(bad)
        found = [a for a in pool if a.id in ami_ids]
        deleted = [i for i in ami_ids if i in self.deleted_amis]
        if not found and not deleted:
            raise InvalidAMIIdError(ami_ids)
        pool = found
    if exec_users:
        keep = []
        for a in pool:
            for u in exec_users:
                if u == "all" and a.is_public:
                    keep.append(a)
                    break
                uid = me if u == "self" else u
                if {"UserId": uid} in a.launch_permissions and (u == "self" or a.owner_id == me):
                    keep.append(a)
                    break
        pool = keep
    if owners:
        want = {me if o == "self" else o for o in owners}
        pool = [a for a in pool if a.owner_id in want or (a.owner_alias and a.owner_alias in want)]
    if filters:
        pool = generic_filter(filters, pool)
    return pool


def modify_image_attribute(self: Any, ami_id: str, launch_permissions_to_add: list[dict[str, str]],
                           launch_permissions_to_remove: list[dict[str, str]]) -> None:
    ami = self.amis.get(ami_id)
    if ami is None:
        if find_image(self.region_name, ami_id, self.account_id) is not None:
            raise EC2ClientError("AuthFailure", f"Not authorized for image:{ami_id}")
        raise InvalidAMIIdError(ami_id)
    self.validate_permission_targets(launch_permissions_to_add)
    self.validate_permission_targets(launch_permissions_to_remove)
    for lp in launch_permissions_to_add:
        if lp not in ami.launch_permissions:
            ami.launch_permissions.append(lp)
    for lp in launch_permissions_to_remove:
        if lp in ami.launch_permissions:
            ami.launch_permissions.remove(lp)


def describe_image_attribute(self: Any, ami_id: str, attribute_name: str) -> Any:
    ami = self.amis.get(ami_id)
    if ami is None:
        if find_image(self.region_name, ami_id, self.account_id) is not None:
            raise EC2ClientError("AuthFailure", f"Not authorized for image:{ami_id}")
        raise InvalidAMIIdError(ami_id)
    return getattr(ami, attribute_name, None)


# --------------------------------------------------------------------------- responses
def _bool_param(v: Any) -> bool | None:
    if v is None:
        return None
    return str(v).lower() == "true"


def resp_register_image(self: AmisResponse) -> ActionResult:
    tags = self._parse_tag_specification().get("image", {})
    self.error_on_dryrun()
    image = self.ec2_backend.register_image(
        self._get_param("Name"),
        self._get_param("Description", ""),
        block_device_mappings=self._get_param("BlockDeviceMappings", []),
        root_device_name=self._get_param("RootDeviceName"),
        architecture=self._get_param("Architecture"),
        virtualization_type=self._get_param("VirtualizationType"),
        boot_mode=self._get_param("BootMode"),
        ena_support=self._get_param("EnaSupport"),
        imds_support=self._get_param("ImdsSupport"),
        tags=tags,
    )
    return ActionResult({"ImageId": image.id})


def resp_copy_image(self: AmisResponse) -> ActionResult:
    tags = self._parse_tag_specification().get("image", {})
    self.error_on_dryrun()
    image = self.ec2_backend.copy_image(
        self._get_param("SourceImageId"),
        self._get_param("SourceRegion"),
        self._get_param("Name"),
        self._get_param("Description"),
        encrypted=_bool_param(self._get_param("Encrypted")),
        kms_key_id=self._get_param("KmsKeyId"),
        tags=tags,
        copy_image_tags=bool(_bool_param(self._get_param("CopyImageTags"))),
    )
    return ActionResult({"ImageId": image.id})


def resp_copy_snapshot(self: ElasticBlockStore) -> ActionResult:
    snapshot_tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    snapshot = self.ec2_backend.copy_snapshot(
        source_snapshot_id=self._get_param("SourceSnapshotId"),
        source_region=self._get_param("SourceRegion"),
        description=self._get_param("Description"),
        kms_key_id=self._get_param("KmsKeyId"),
        encrypted=_bool_param(self._get_param("Encrypted")),
    )
    snapshot.add_tags(snapshot_tags)
    caller = _caller_for(self.ec2_backend)
    cloudtrail.record(
        account=self.current_account, region=self.region, caller=caller,
        event_source="ec2.amazonaws.com", event_name="CopySnapshot", read_only=False,
        request_parameters={"sourceSnapshotId": self._get_param("SourceSnapshotId"),
                            "sourceRegion": self._get_param("SourceRegion"),
                            "kmsKeyId": self._get_param("KmsKeyId")},
        response_elements={"snapshotId": snapshot.id},
        resources=[{"ResourceType": "AWS::EC2::Snapshot", "ResourceName": snapshot.id}],
    )
    return ActionResult({"SnapshotId": snapshot.id, "Tags": snapshot.tag_set})


def resp_describe_snapshots(self: ElasticBlockStore) -> ActionResult:
    self.error_on_dryrun()
    snapshots = self.ec2_backend.describe_snapshots(
        snapshot_ids=self._get_param("SnapshotIds", []),
        filters=self._filters_from_querystring(),
        owner_ids=self._get_param("OwnerIds", []),
        restorable_by=self._get_param("RestorableByUserIds", []),
    )
    max_results = self._get_param("MaxResults")
    token = self._get_param("NextToken")
    start = int(token) if token and str(token).isdigit() else 0
    out: dict[str, Any] = {"Snapshots": snapshots}
    if max_results:
        mr = int(max_results)
        out["Snapshots"] = snapshots[start:start + mr]
        if start + mr < len(snapshots):
            out["NextToken"] = str(start + mr)
    return ActionResult(out)


def _perm_list(v: Any) -> list[dict[str, str]]:
    if not v:
        return []
    if isinstance(v, dict):
        v = list(v.values())
    return [x for x in v if isinstance(x, dict)]


def resp_modify_snapshot_attribute(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    attribute = self._get_param("Attribute")
    operation_type = self._get_param("OperationType")
    groups = list(self._get_param("GroupNames", []) or [])
    user_ids = list(self._get_param("UserIds", []) or [])
    cvp = self._get_param("CreateVolumePermission", {}) or {}
    add = _perm_list(cvp.get("Add"))
    remove = _perm_list(cvp.get("Remove"))
    if attribute and attribute != "createVolumePermission":
        raise EC2ClientError("InvalidParameterValue",
                             f"Value ({attribute}) for parameter attribute is invalid. Unknown attribute.")
    self.error_on_dryrun()
    if operation_type == "add":
        self.ec2_backend.add_create_volume_permission(snapshot_id, user_ids=user_ids, groups=groups)
    elif operation_type == "remove":
        self.ec2_backend.remove_create_volume_permission(snapshot_id, user_ids=user_ids, groups=groups)
    if add:
        self.ec2_backend.add_create_volume_permission(
            snapshot_id, user_ids=[p["UserId"] for p in add if p.get("UserId")],
            groups=[p["Group"] for p in add if p.get("Group")])
    if remove:
        self.ec2_backend.remove_create_volume_permission(
            snapshot_id, user_ids=[p["UserId"] for p in remove if p.get("UserId")],
            groups=[p["Group"] for p in remove if p.get("Group")])
    if not (operation_type or add or remove):
        raise EC2ClientError("MissingParameter", "The request must contain the parameter createVolumePermission")
    return EmptyResult()


def resp_describe_snapshot_attribute(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    attribute = self._get_param("Attribute") or "createVolumePermission"
    self.error_on_dryrun()
    snap = _snapshot_owned(self.ec2_backend, snapshot_id)
    if attribute == "productCodes":
        return ActionResult({"SnapshotId": snapshot_id, "ProductCodes": []})
    perms = [{"Group": g} for g in sorted(snap.create_volume_permission_groups)] + [
        {"UserId": u} for u in sorted(snap.create_volume_permission_userids)
    ]
    return ActionResult({"SnapshotId": snapshot_id, "CreateVolumePermissions": perms})


def resp_get_ebs_default_kms_key_id(self: Any) -> ActionResult:
    self.error_on_dryrun()
    b = self.ec2_backend
    return ActionResult({"KmsKeyId": b.default_kms_key_id or "alias/aws/ebs"})


def resp_modify_ebs_default_kms_key_id(self: Any) -> ActionResult:
    kms_key_id = self._get_param("KmsKeyId")
    self.error_on_dryrun()
    b = self.ec2_backend
    key = kms_patches.lookup_key_by_ref(kms_key_id, b.account_id, b.region_name)
    if key is None:
        raise EC2ClientError("InvalidParameterValue", f"Invalid KMS key: {kms_key_id}")
    if key.key_manager == "AWS":
        b.default_kms_key_id = ""
        return ActionResult({"KmsKeyId": f"arn:aws:kms:{b.region_name}:{b.account_id}:alias/aws/ebs"})
    b.default_kms_key_id = key.arn
    return ActionResult({"KmsKeyId": key.arn})


def resp_reset_ebs_default_kms_key_id(self: Any) -> ActionResult:
    self.error_on_dryrun()
    b = self.ec2_backend
    b.default_kms_key_id = ""
    return ActionResult({"KmsKeyId": f"arn:aws:kms:{b.region_name}:{b.account_id}:alias/aws/ebs"})


def resp_describe_image_attribute(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    attribute_name = self._get_param("Attribute")
    self.error_on_dryrun()
    if attribute_name == "launchPermission":
        lps = self.ec2_backend.describe_image_attribute(ami_id, "launch_permissions")
        return ActionResult({"ImageId": ami_id, "LaunchPermissions": lps})
    return _orig_resp_describe_image_attribute(self)


_orig_resp_describe_image_attribute = AmisResponse.describe_image_attribute


# --------------------------------------------------------------------------- instances
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


def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str],
                  **kwargs: Any) -> Any:
    caller = _caller_for(self)
    ami = None
    if image_id:
        if not image_id.startswith("ami-"):
            raise MalformedAMIIdError([image_id])
        ami = find_image(self.region_name, image_id, self.account_id)
        if ami is None:
            raise InvalidAMIIdError(image_id)
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
    keys = []
    for m in refs:
        ebs = m["Ebs"]
        if ebs.get("Encrypted") and ebs.get("KmsKeyId") and ebs["KmsKeyId"] not in keys:
            keys.append(ebs["KmsKeyId"])
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


# --------------------------------------------------------------------------- install
def apply() -> None:
    Snapshot.status = property(_snap_status_get, _snap_status_set)  # type: ignore[assignment]
    Snapshot.progress = property(_snap_progress)  # type: ignore[assignment]
    Snapshot.state_message = property(_snap_state_message)  # type: ignore[attr-defined]
    Snapshot.volume_size = property(_snap_volume_size)  # type: ignore[assignment]
    EBSBackend.create_snapshot = create_snapshot  # type: ignore[assignment]
    EBSBackend.copy_snapshot = copy_snapshot  # type: ignore[assignment]
    EBSBackend.describe_snapshots = describe_snapshots  # type: ignore[assignment]
    EBSBackend.add_create_volume_permission = add_create_volume_permission  # type: ignore[assignment]
    EBSBackend.remove_create_volume_permission = remove_create_volume_permission  # type: ignore[assignment]
    EBSBackend.get_create_volume_permission_groups = get_create_volume_permission_groups  # type: ignore
    EBSBackend.get_create_volume_permission_userids = get_create_volume_permission_userids  # type: ignore
    EBSBackend.create_volume = create_volume  # type: ignore[assignment]
    EBSBackend._create_default_encryption_key = _create_default_encryption_key  # type: ignore[assignment]

    Ami.state = property(_ami_state_get, _ami_state_set)  # type: ignore[assignment]
    Ami.state_reason = property(_ami_state_reason)  # type: ignore[attr-defined]
    Ami.block_device_mappings = property(_ami_bdms)  # type: ignore[assignment]
    Ami.ena_support = property(lambda self: _bool_param(self.__dict__.get("_emu_ena")))  # type: ignore
    AmiBackend.register_image = register_image  # type: ignore[assignment]
    AmiBackend.copy_image = copy_image  # type: ignore[assignment]
    AmiBackend.describe_images = describe_images  # type: ignore[assignment]
    AmiBackend.modify_image_attribute = modify_image_attribute  # type: ignore[assignment]
    AmiBackend.describe_image_attribute = describe_image_attribute  # type: ignore[assignment]

    AmisResponse.register_image = resp_register_image  # type: ignore[assignment]
    AmisResponse.copy_image = resp_copy_image  # type: ignore[assignment]
    AmisResponse.describe_image_attribute = resp_describe_image_attribute  # type: ignore[assignment]
    ElasticBlockStore.copy_snapshot = resp_copy_snapshot  # type: ignore[assignment]
    ElasticBlockStore.describe_snapshots = resp_describe_snapshots  # type: ignore[assignment]
    ElasticBlockStore.modify_snapshot_attribute = resp_modify_snapshot_attribute  # type: ignore
    ElasticBlockStore.describe_snapshot_attribute = resp_describe_snapshot_attribute  # type: ignore
    ElasticBlockStore.get_ebs_default_kms_key_id = resp_get_ebs_default_kms_key_id  # type: ignore
    ElasticBlockStore.modify_ebs_default_kms_key_id = resp_modify_ebs_default_kms_key_id  # type: ignore
    ElasticBlockStore.reset_ebs_default_kms_key_id = resp_reset_ebs_default_kms_key_id  # type: ignore

    Instance._state = property(_inst_state_get, _inst_state_set)  # type: ignore[attr-defined]
    Instance.state_reason = property(_inst_reason_get, _inst_reason_set)  # type: ignore[assignment]
    Instance.state_transition_reason = property(_inst_transition_reason)  # type: ignore[assignment]
    _wrap_transition("terminate", ("shutting-down", 32))
    _wrap_transition("stop", ("stopping", 64))
    _wrap_transition("start", ("pending", 0))
    InstanceBackend.run_instances = run_instances  # type: ignore[assignment]
