"""Snapshots, volumes, createVolumePermission and the EBS default key (moto EBSBackend patches)."""

from __future__ import annotations

import threading
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError, InvalidAMIAttributeItemValueError, InvalidSnapshotIdError
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot, Volume
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import generic_filter, random_snapshot_id

from .. import cloudtrail, kms_patches
from .common import (
    SNAPSHOT_FAIL_MESSAGE,
    bool_param,
    caller_for,
    is_pending,
    perm_list,
    progress,
    set_pending,
    backends_in_region,
    check_key_use,
    default_ebs_key_arn,
    find_snapshot,
    resolve_kms_ref,
    snapshot_visible_to,
)


def _snap_status_get(self: Snapshot) -> str:
    if is_pending(self):
        return "pending"
    if self.__dict__.get("_emu_fail"):
        return "error"
    return self.__dict__.get("_emu_status", "completed")


def _snap_status_set(self: Snapshot, value: str) -> None:
    self.__dict__["_emu_status"] = value


def _snap_progress(self: Snapshot) -> str:
    if self.__dict__.get("_emu_fail") and not is_pending(self):
        return "0%"
    return f"{progress(self)}%"


def _snap_state_message(self: Snapshot) -> str | None:
    if self.__dict__.get("_emu_fail") and not is_pending(self):
        return self.__dict__["_emu_fail"]
    return None


def snap_volume_size(self: Snapshot) -> int:
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
        set_pending(snap)
    return snap


def copy_snapshot(self: Any, source_snapshot_id: str, source_region: str, description: str,
                  kms_key_id: str | None, encrypted: bool | None = None, _for_image: str | None = None,
                  _fail: str | None = None) -> Snapshot:
    caller = caller_for(self)
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
    snap.__dict__["_emu_volume_size"] = snap_volume_size(src)
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
    set_pending(snap, fail=fail)
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
            size = snap_volume_size(snap)
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
        if snap.encrypted and _API_CALL.active:
            _check_volume_keys(self, vol, snap)
        return vol
    if encrypted and not kms_key_id:
        kms_key_id = default_ebs_key_arn(self)
    elif kms_key_id:
        kms_key_id = resolve_kms_ref(self, kms_key_id) or kms_key_id
    elif not encrypted and getattr(self, "ebs_encryption_by_default", False):
        encrypted, kms_key_id = True, default_ebs_key_arn(self)
    return _orig_create_volume(self, size, zone_name, None, encrypted, kms_key_id, **kw)


class _ApiCall(threading.local):
    active = False


_API_CALL = _ApiCall()  # set while the CreateVolume API runs (RunInstances creates volumes too)
_orig_resp_create_volume = ElasticBlockStore.create_volume
_orig_volume_status = Volume.status.fget  # type: ignore[attr-defined]


def resp_create_volume(self: ElasticBlockStore) -> ActionResult:
    _API_CALL.active = True
    try:
        return _orig_resp_create_volume(self)
    finally:
        _API_CALL.active = False


def _check_volume_keys(backend: Any, vol: Any, snap: Snapshot) -> None:
    """CreateVolume from an encrypted snapshot: EBS uses the snapshot's key and the new volume's key
    for the caller; a denial leaves the volume `creating`, then `error` (Knowledge Center
    "ebs-troubleshoot-kms-encrypted-snapshot")."""
    caller = caller_for(backend)
    for key in dict.fromkeys([snap.kms_key_id, vol.kms_key_id]):
        ok, karn, _d = check_key_use(key, caller, "CreateVolume", vol.id, backend.region_name,
                                     {"snapshotId": snap.id})
        if not ok:
            set_pending(vol, fail=f"{SNAPSHOT_FAIL_MESSAGE}: {karn}")
            return


def _volume_status(self: Any) -> str:
    if is_pending(self):
        return "creating"
    if self.__dict__.get("_emu_fail"):
        return "error"
    return _orig_volume_status(self)


def _create_default_encryption_key(self: Any) -> str:
    return default_ebs_key_arn(self)


def resp_copy_snapshot(self: ElasticBlockStore) -> ActionResult:
    snapshot_tags = self._parse_tag_specification().get("snapshot", {})
    self.error_on_dryrun()
    snapshot = self.ec2_backend.copy_snapshot(
        source_snapshot_id=self._get_param("SourceSnapshotId"),
        source_region=self._get_param("SourceRegion"),
        description=self._get_param("Description"),
        kms_key_id=self._get_param("KmsKeyId"),
        encrypted=bool_param(self._get_param("Encrypted")),
    )
    snapshot.add_tags(snapshot_tags)
    caller = caller_for(self.ec2_backend)
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


def resp_modify_snapshot_attribute(self: ElasticBlockStore) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    attribute = self._get_param("Attribute")
    operation_type = self._get_param("OperationType")
    groups = list(self._get_param("GroupNames", []) or [])
    user_ids = list(self._get_param("UserIds", []) or [])
    cvp = self._get_param("CreateVolumePermission", {}) or {}
    add = perm_list(cvp.get("Add"))
    remove = perm_list(cvp.get("Remove"))
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


def apply() -> None:
    Volume.status = property(_volume_status)  # type: ignore[assignment]
    ElasticBlockStore.create_volume = resp_create_volume  # type: ignore[assignment]
    Snapshot.status = property(_snap_status_get, _snap_status_set)  # type: ignore[assignment]
    Snapshot.progress = property(_snap_progress)  # type: ignore[assignment]
    Snapshot.state_message = property(_snap_state_message)  # type: ignore[attr-defined]
    Snapshot.volume_size = property(snap_volume_size)  # type: ignore[assignment]
    EBSBackend.create_snapshot = create_snapshot  # type: ignore[assignment]
    EBSBackend.copy_snapshot = copy_snapshot  # type: ignore[assignment]
    EBSBackend.describe_snapshots = describe_snapshots  # type: ignore[assignment]
    EBSBackend.add_create_volume_permission = add_create_volume_permission  # type: ignore[assignment]
    EBSBackend.remove_create_volume_permission = remove_create_volume_permission  # type: ignore[assignment]
    EBSBackend.get_create_volume_permission_groups = get_create_volume_permission_groups  # type: ignore
    EBSBackend.get_create_volume_permission_userids = get_create_volume_permission_userids  # type: ignore
    EBSBackend.create_volume = create_volume  # type: ignore[assignment]
    EBSBackend._create_default_encryption_key = _create_default_encryption_key  # type: ignore[assignment]
    ElasticBlockStore.copy_snapshot = resp_copy_snapshot  # type: ignore[assignment]
    ElasticBlockStore.describe_snapshots = resp_describe_snapshots  # type: ignore[assignment]
    ElasticBlockStore.modify_snapshot_attribute = resp_modify_snapshot_attribute  # type: ignore
    ElasticBlockStore.describe_snapshot_attribute = resp_describe_snapshot_attribute  # type: ignore
    ElasticBlockStore.get_ebs_default_kms_key_id = resp_get_ebs_default_kms_key_id  # type: ignore
    ElasticBlockStore.modify_ebs_default_kms_key_id = resp_modify_ebs_default_kms_key_id  # type: ignore
    ElasticBlockStore.reset_ebs_default_kms_key_id = resp_reset_ebs_default_kms_key_id  # type: ignore
