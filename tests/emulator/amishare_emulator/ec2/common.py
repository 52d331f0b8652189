"""Shared by the EC2 patches: where a resource lives and who may see it, the pending clock, the
caller, the EBS default key, parameter parsing and the key-use check EC2 makes on a caller's behalf."""

from __future__ import annotations

from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.ec2.models.elastic_block_store import Snapshot

from .. import cloudtrail, identity, kms_patches, orgs
from ..keyuse import evaluate_key_use
from ..state import current_caller, now, pending_seconds, record_decision


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


def launch_permission_names(lp: dict[str, str], account: str) -> bool:
    """Does this launch permission name `account` (its id, or its organization or one of its OUs)?"""
    if lp.get("UserId") == account:
        return True
    arn = lp.get("OrganizationArn") or lp.get("OrganizationalUnitArn")
    return bool(arn) and arn in orgs.org_arns(account)


def image_visible_to(ami: Ami, account: str) -> bool:
    if ami.owner_id == account:
        return True
    return any(lp.get("Group") == "all" or launch_permission_names(lp, account) for lp in ami.launch_permissions)


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


def caller_for(backend: Any) -> Any:
    c = current_caller()
    if c is None or c.account != backend.account_id:
        from ..state import Caller, CallerKind

        c = Caller(
            account=backend.account_id,
            arn=f"arn:aws:iam::{backend.account_id}:root",
            access_key="",
            kind=CallerKind.ROOT,
            principal_id=backend.account_id,
            region=backend.region_name,
        )
    return c


def default_ebs_key_arn(backend: Any) -> str:
    """The caller's EBS default key (the aws/ebs AWS managed key unless modified)."""
    if backend.default_kms_key_id:
        return backend.default_kms_key_id
    return kms_patches.aws_managed_key(backend.account_id, backend.region_name, "alias/aws/ebs").arn


def set_pending(obj: Any, seconds: float | None = None, fail: str | None = None) -> None:
    t = now()
    obj.__dict__["_emu_started"] = t
    obj.__dict__["_emu_ready_at"] = t + (pending_seconds() if seconds is None else seconds)
    obj.__dict__["_emu_fail"] = fail


def is_pending(obj: Any) -> bool:
    ready = obj.__dict__.get("_emu_ready_at")
    return ready is not None and now() < ready


def progress(obj: Any) -> int:
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
    principal = identity.resolve(caller.arn, caller.account)
    decision = evaluate_key_use(key, caller.arn, caller.account, principal, {"aws:ebs:id": resource_id})
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
        msg, code = decision.denial_message(caller.arn, key_arn), "AccessDenied"
        state = getattr(key, "key_state", "Enabled")
        if key is not None and state != "Enabled":  # KMS "Key states of AWS KMS keys"
            code = "DisabledException" if state == "Disabled" else "KMSInvalidStateException"
            msg = f"{key_arn} is " + {"Disabled": "disabled", "PendingDeletion": "pending deletion",
                                      "PendingImport": "pending import"}.get(state, state) + "."
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
            error_code=code,
            error_message=msg,
            resources=[{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}],
            invoked_by="ec2.amazonaws.com",
        )
    return decision.allowed, key_arn, decision


def resolve_kms_ref(backend: Any, ref: str) -> str | None:
    key = kms_patches.lookup_key_by_ref(ref, backend.account_id, backend.region_name)
    return key.arn if key is not None else None


def bool_param(v: Any) -> bool | None:
    if v is None:
        return None
    return str(v).lower() == "true"


def perm_list(v: Any) -> list[dict[str, str]]:
    if not v:
        return []
    if isinstance(v, dict):
        v = list(v.values())
    return [x for x in v if isinstance(x, dict)]
