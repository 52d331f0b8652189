"""Images: RegisterImage with mappings, CopyImage, visibility, launch permissions (moto AmiBackend patches)."""

from __future__ import annotations

import copy
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError, MalformedAMIIdError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.utils import generic_filter, random_ami_id, random_snapshot_id

from .. import cloudtrail
from . import allowed_amis
from .common import (
    COPY_FAIL_CODE,
    SNAPSHOT_FAIL_MESSAGE,
    bool_param,
    caller_for,
    is_pending,
    set_pending,
    backends_in_region,
    check_key_use,
    default_ebs_key_arn,
    find_image,
    find_snapshot,
    find_snapshot_any,
    image_visible_to,
    launch_permission_names,
    resolve_kms_ref,
    snapshot_visible_to,
)
from .snapshots import snap_volume_size


def _ami_state_get(self: Ami) -> str:
    if is_pending(self):
        return "pending"
    if self.__dict__.get("_emu_fail"):
        return "failed"
    return self.__dict__.get("_emu_state", "available")


def _ami_state_set(self: Ami, value: str) -> None:
    self.__dict__["_emu_state"] = value


def _ami_state_reason(self: Ami) -> dict[str, str] | None:
    fail = self.__dict__.get("_emu_fail")
    if fail and not is_pending(self):
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
                size = int(ebs_in.get("VolumeSize") or snap_volume_size(snap))
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
    set_pending(ami)
    self.amis[ami.id] = ami
    return ami


def copy_image(self: Any, source_image_id: str, source_region: str, name: str | None = None,
               description: str | None = None, encrypted: bool | None = None,
               kms_key_id: str | None = None, tags: dict[str, str] | None = None,
               copy_image_tags: bool = False) -> Ami:
    caller = caller_for(self)
    source_region = source_region or self.region_name
    if not source_image_id or not source_image_id.startswith("ami-"):
        raise MalformedAMIIdError([source_image_id])
    src = find_image(source_region, source_image_id, self.account_id)
    if src is None:
        raise InvalidAMIIdError(source_image_id)
    # Allowed AMIs of the copying account in the source region (own AMIs always pass)
    allowed_amis.refuse_unless_allowed(src, self.account_id, source_region)
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
        snap.__dict__["_emu_volume_size"] = snap_volume_size(src_snap)
        set_pending(snap, fail=snap_fail)
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
    set_pending(ami, fail=fail)
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
            if image_visible_to(a, me) and allowed_amis.discoverable(a, me, self.region_name):
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
                if u == "self" and any(launch_permission_names(lp, me) for lp in a.launch_permissions):
                    keep.append(a)
                    break
                if {"UserId": u} in a.launch_permissions and a.owner_id == me:
                    keep.append(a)
                    break
        pool = keep
    if owners:
        want = {me if o == "self" else o for o in owners}
        pool = [a for a in pool if a.owner_id in want or (a.owner_alias and a.owner_alias in want)]
    if filters:
        filters = dict(filters)
        want = filters.pop("image-allowed", None)
        if want is not None:
            vals = {str(v).lower() for v in (want if isinstance(want, list) else [want])}
            pool = [a for a in pool if str(allowed_amis.image_allowed(a, me, self.region_name)).lower() in vals]
        pool = generic_filter(filters, pool) if filters else pool
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
        encrypted=bool_param(self._get_param("Encrypted")),
        kms_key_id=self._get_param("KmsKeyId"),
        tags=tags,
        copy_image_tags=bool(bool_param(self._get_param("CopyImageTags"))),
    )
    return ActionResult({"ImageId": image.id})


def resp_describe_image_attribute(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    attribute_name = self._get_param("Attribute")
    self.error_on_dryrun()
    if attribute_name == "launchPermission":
        lps = self.ec2_backend.describe_image_attribute(ami_id, "launch_permissions")
        return ActionResult({"ImageId": ami_id, "LaunchPermissions": lps})
    return _orig_resp_describe_image_attribute(self)


_orig_resp_describe_image_attribute = AmisResponse.describe_image_attribute


def apply() -> None:
    Ami.state = property(_ami_state_get, _ami_state_set)  # type: ignore[assignment]
    Ami.state_reason = property(_ami_state_reason)  # type: ignore[attr-defined]
    Ami.block_device_mappings = property(_ami_bdms)  # type: ignore[assignment]
    Ami.ena_support = property(lambda self: bool_param(self.__dict__.get("_emu_ena")))  # type: ignore
    AmiBackend.register_image = register_image  # type: ignore[assignment]
    AmiBackend.copy_image = copy_image  # type: ignore[assignment]
    AmiBackend.describe_images = describe_images  # type: ignore[assignment]
    AmiBackend.modify_image_attribute = modify_image_attribute  # type: ignore[assignment]
    AmiBackend.describe_image_attribute = describe_image_attribute  # type: ignore[assignment]
    AmisResponse.register_image = resp_register_image  # type: ignore[assignment]
    AmisResponse.copy_image = resp_copy_image  # type: ignore[assignment]
    AmisResponse.describe_image_attribute = resp_describe_image_attribute  # type: ignore[assignment]
