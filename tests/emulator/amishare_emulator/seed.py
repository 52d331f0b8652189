"""Seed a running emulator with a realistic starting point and print the ids as one JSON document.

python3 -m amishare_emulator.seed --endpoint URL [--source-account ID] [--target-account ID]
    [--region R] [--snapshots N] [--with-aws-managed] [--with-unencrypted] [--with-target-key]
    [--share] [--key-allows-target] [--name-prefix P] [--ec2-user [NAME]] [--launcher-role]
    [--target-key-default] [--org-ou-accounts N [--org-nested] [--org-suspended K]]
    [--target-key-no-iam] [--launcher-kms] [--locked-launcher-role] [--target-key-allows-autoscaling]
    [--target-role-no-kms | --target-role-ec2-only]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import boto3
from botocore.config import Config


def client(service: str, endpoint: str, region: str, account: str) -> Any:
    c = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )

    def add_headers(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account
        request.headers["X-Emulator-Pending-Seconds"] = "0"  # seeded state is ready at once

    c.meta.events.register("before-sign.*.*", add_headers)
    return c


def partition_of(region: str) -> str:
    """The AWS partition of a region (`aws-cn` for cn-*, `aws-us-gov` for us-gov-*, else `aws`)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def console_default_key_policy(account: str, admin_role_arn: str, user_arns: list[str],
                               partition: str = "aws") -> dict[str, Any]:
    """The policy the AWS console writes for a key with key administrators and key users."""
    return {
        "Version": "2012-10-17",
        "Id": "key-consolepolicy-3",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Allow access for Key Administrators",
                "Effect": "Allow",
                "Principal": {"AWS": admin_role_arn},
                "Action": [
                    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                    "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                    "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                    "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
                ],
                "Resource": "*",
            },
            {
                "Sid": "Allow use of the key",
                "Effect": "Allow",
                "Principal": {"AWS": user_arns if len(user_arns) > 1 else user_arns[0]},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                           "kms:DescribeKey"],
                "Resource": "*",
            },
            {
                "Sid": "Allow attachment of persistent resources",
                "Effect": "Allow",
                "Principal": {"AWS": user_arns if len(user_arns) > 1 else user_arns[0]},
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ],
    }


def trust_policy(principal: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    })


ADMIN_POLICY = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
# AmazonEC2FullAccess as AWS publishes it: EC2 and friends, no KMS action ("full EC2 permissions").
EC2_FULL_ACCESS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["ec2:*", "elasticloadbalancing:*", "cloudwatch:*", "autoscaling:*"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole", "Resource": "*",
     "Condition": {"StringEquals": {"iam:AWSServiceName": ["autoscaling.amazonaws.com", "ec2scheduled.amazonaws.com",
                                                           "elasticloadbalancing.amazonaws.com"]}}}]})


def ensure_role(iam: Any, name: str, trust: str, description: str, admin: bool = False) -> str:
    """A role; `admin`: with the inline policy `AdministratorAccess` (Action/Resource `*`), as the
    roles amishare's tests use have on AWS (e.g. OrganizationAccountAccessRole)."""
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Description=description)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    if admin:
        iam.put_role_policy(RoleName=name, PolicyName="AdministratorAccess", PolicyDocument=ADMIN_POLICY)
    return arn


def make_ami(ec2: Any, az: str, name: str, sizes: list[int], encrypted: bool, kms_key_id: str | None,
             tag: dict[str, str]) -> tuple[str, list[str], list[str]]:
    vols, snaps, bdms = [], [], []
    for i, size in enumerate(sizes):
        kw: dict[str, Any] = {"AvailabilityZone": az, "Size": size, "VolumeType": "gp3"}
        if encrypted:
            kw["Encrypted"] = True
            if kms_key_id:
                kw["KmsKeyId"] = kms_key_id
        vol = ec2.create_volume(**kw, TagSpecifications=[{"ResourceType": "volume", "Tags": [
            {"Key": "Name", "Value": f"{name}-vol{i}"}]}])["VolumeId"]
        snap = ec2.create_snapshot(VolumeId=vol, Description=f"{name} device {i}", TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "Name", "Value": f"{name}-snap{i}"}]}])["SnapshotId"]
        dev = "/dev/xvda" if i == 0 else f"/dev/xvd{chr(ord('b') + i - 1)}"
        bdms.append({"DeviceName": dev, "Ebs": {"SnapshotId": snap, "VolumeSize": size, "VolumeType": "gp3",
                                                "DeleteOnTermination": True}})
        vols.append(vol)
        snaps.append(snap)
    ami = ec2.register_image(
        Name=name, Description=f"amishare emulator seed image {name}", Architecture="x86_64",
        RootDeviceName="/dev/xvda", VirtualizationType="hvm", EnaSupport=True, BootMode="uefi-preferred",
        BlockDeviceMappings=bdms,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tag.items()]}],
    )["ImageId"]
    return ami, vols, snaps


def seed(args: argparse.Namespace) -> dict[str, Any]:
    ep, region, src, tgt = args.endpoint.rstrip("/"), args.region, args.source_account, args.target_account
    p = args.name_prefix
    s_iam, s_kms, s_ec2 = (client(x, ep, region, src) for x in ("iam", "kms", "ec2"))
    t_iam, t_kms = client("iam", ep, region, tgt), client("kms", ep, region, tgt)
    az = region + "a"
    part = partition_of(region)

    admin_role = ensure_role(s_iam, f"{p}-key-admin", trust_policy(f"arn:{part}:iam::{src}:root"),
                             "Administers the source AMI key", admin=True)
    source_role = ensure_role(s_iam, f"{p}-source", trust_policy(f"arn:{part}:iam::{src}:root"),
                              "Builds and shares AMIs (key user)", admin=True)
    target_role = ensure_role(t_iam, f"{p}-target", trust_policy(f"arn:{part}:iam::{src}:root"),
                              "Assumed from the source account to copy/launch shared AMIs", admin=True)
    users = [source_role]
    if args.key_allows_target:
        users.append(f"arn:{part}:iam::{tgt}:root")
    policy = console_default_key_policy(src, admin_role, users, part)
    key = s_kms.create_key(Policy=json.dumps(policy), Description=f"{p} source AMI key",
                           KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
                           Tags=[{"TagKey": "Project", "TagValue": "amishare"}])["KeyMetadata"]
    alias = f"alias/{p}-source"
    s_kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])

    n = max(1, args.snapshots)
    sizes = [8] + [4] * (n - 1)
    tags = {"Project": "amishare", "Seed": "true"}
    ami, vols, snaps = make_ami(s_ec2, az, f"{p}-cmk", sizes, True, key["Arn"], tags)
    out: dict[str, Any] = {
        "endpoint": ep,
        "region": region,
        "source_account": src,
        "target_account": tgt,
        "source_key_id": key["KeyId"],
        "source_key_arn": key["Arn"],
        "source_key_alias": alias,
        "source_role_arn": source_role,
        "source_key_admin_role_arn": admin_role,
        "target_role_arn": target_role,
        "volume_id": vols[0],
        "volume_ids": vols,
        "snapshot_id": snaps[0],
        "snapshot_ids": snaps,
        "ami_id": ami,
        "aws_managed_ami_id": None,
        "aws_managed_snapshot_id": None,
        "aws_managed_key_arn": None,
        "unencrypted_ami_id": None,
        "unencrypted_snapshot_id": None,
        "target_key_id": None,
        "target_key_arn": None,
        "shared": bool(args.share),
        "key_allows_target": bool(args.key_allows_target),
    }
    shared_images = [(ami, snaps)]
    if args.with_aws_managed:
        a2, _v2, s2 = make_ami(s_ec2, az, f"{p}-aws-managed", [8], True, None, tags)
        out["aws_managed_ami_id"] = a2
        out["aws_managed_snapshot_id"] = s2[0]
        out["aws_managed_key_arn"] = s_kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
        shared_images.append((a2, []))  # AWS refuses sharing snapshots encrypted with aws/ebs
    if args.with_unencrypted:
        a3, _v3, s3 = make_ami(s_ec2, az, f"{p}-unencrypted", [8], False, None, tags)
        out["unencrypted_ami_id"] = a3
        out["unencrypted_snapshot_id"] = s3[0]
        shared_images.append((a3, s3))
    if args.with_target_key or getattr(args, "target_key_default", False) or \
            getattr(args, "target_key_no_iam", False):
        tk = t_kms.create_key(Description=f"{p} target re-encryption key")["KeyMetadata"]
        t_kms.create_alias(AliasName=f"alias/{p}-target", TargetKeyId=tk["KeyId"])
        out["target_key_id"] = tk["KeyId"]
        out["target_key_arn"] = tk["Arn"]
    seed_worlds(args, out, ep, region, src, tgt)
    if args.share:
        for image_id, snap_ids in shared_images:
            s_ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": tgt}]})
            for sid in snap_ids:
                s_ec2.modify_snapshot_attribute(SnapshotId=sid, CreateVolumePermission={"Add": [{"UserId": tgt}]})
    return out


def seed_worlds(args: argparse.Namespace, out: dict[str, Any], ep: str, region: str, src: str, tgt: str) -> None:
    """The optional worlds of issue 9: seed 000's IAM user, a target launcher role without KMS rights,
    the target key as the target's EBS default key, an organization with an OU."""
    p = args.name_prefix
    user = getattr(args, "ec2_user", None)
    # each world's keys appear only when its option is given (the base document stays as it was)
    if user:
        s_iam = client("iam", ep, region, src)
        s_iam.create_user(UserName=user)
        s_iam.put_user_policy(UserName=user, PolicyName="AmazonEC2FullAccess", PolicyDocument=EC2_FULL_ACCESS)
        ak = s_iam.create_access_key(UserName=user)["AccessKey"]
        out.update(ec2_user_arn=f"arn:{partition_of(region)}:iam::{src}:user/{user}",
                   ec2_user_access_key_id=ak["AccessKeyId"], ec2_user_secret_access_key=ak["SecretAccessKey"])
    if getattr(args, "launcher_role", False):
        t_iam = client("iam", ep, region, tgt)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [f"arn:{partition_of(region)}:iam::{src}:root",
                                               f"arn:{partition_of(region)}:iam::{tgt}:root"]},
             "Action": "sts:AssumeRole"}]})
        arn = ensure_role(t_iam, f"{p}-launcher", trust, "Launches instances in the target (EC2 rights, no KMS)")
        t_iam.put_role_policy(RoleName=f"{p}-launcher", PolicyName="AmazonEC2FullAccess",
                              PolicyDocument=EC2_FULL_ACCESS)
        out["launcher_role_arn"] = arn
    if getattr(args, "target_key_default", False):
        client("ec2", ep, region, tgt).modify_ebs_default_kms_key_id(KmsKeyId=out["target_key_arn"])
        out["target_default_key_arn"] = out["target_key_arn"]
    if getattr(args, "target_key_no_iam", False):
        # A key policy that does not delegate to the account's IAM: only the target role (its
        # administrator and user) is named, so IAM policies give nobody else any use of the key.
        # Seeding only: the bypass lets the seeding identity write a policy that does not name it.
        client("kms", ep, region, tgt).put_key_policy(
            KeyId=out["target_key_id"], PolicyName="default", BypassPolicyLockoutSafetyCheck=True,
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "Key administrator and user", "Effect": "Allow",
                 "Principal": {"AWS": out["target_role_arn"]}, "Action": "kms:*", "Resource": "*"}]}))
        out["target_key_delegates_to_iam"] = False
    n = getattr(args, "org_ou_accounts", 0) or 0
    if n > 0:
        seed_organization(out, ep, region, src, tgt, n, p)
        if getattr(args, "org_nested", False) or getattr(args, "org_suspended", 0):
            seed_org_scale(out, ep, region, src, p, bool(getattr(args, "org_nested", False)),
                           int(getattr(args, "org_suspended", 0) or 0))
    seed_launchers(args, out, ep, region, tgt)
    seed_target_role_rights(args, out, ep, region, tgt)
    from . import seed_guardrails

    seed_guardrails.apply(args, out, ep, region, src, tgt)


def kms_use_policy(key_arn: str) -> str:
    """What a launcher's IAM needs on a same-account key that delegates to IAM (seeds 000/002/003's fix)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                       "kms:DescribeKey"], "Resource": key_arn},
        {"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": key_arn,
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]})


def seed_launchers(args: argparse.Namespace, out: dict[str, Any], ep: str, region: str, tgt: str) -> None:
    """Issue 11's launchers: the launcher role able to use the target key, a launcher role nobody in the
    target may assume, the target key policy naming Auto Scaling's service-linked role."""
    p = args.name_prefix
    t_iam = client("iam", ep, region, tgt)
    if getattr(args, "launcher_kms", False):
        if not out.get("launcher_role_arn") or not out.get("target_key_arn"):
            raise ValueError("--launcher-kms needs --launcher-role and a target key")
        t_iam.put_role_policy(RoleName=f"{p}-launcher", PolicyName="TargetKeyUse",
                              PolicyDocument=kms_use_policy(out["target_key_arn"]))
    if getattr(args, "locked_launcher_role", False):
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        arn = ensure_role(t_iam, f"{p}-locked-launcher", trust, "A launcher only EC2 may assume")
        t_iam.put_role_policy(RoleName=f"{p}-locked-launcher", PolicyName="AmazonEC2FullAccess",
                              PolicyDocument=EC2_FULL_ACCESS)
        out["locked_launcher_role_arn"] = arn
    slr = f"arn:aws:iam::{tgt}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    if getattr(args, "target_key_allows_autoscaling", False):
        if not out.get("target_key_arn"):
            raise ValueError("--target-key-allows-autoscaling needs a target key")
        try:
            t_iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
        except Exception:  # already there
            pass
        t_kms = client("kms", ep, region, tgt)
        policy = json.loads(t_kms.get_key_policy(KeyId=out["target_key_arn"], PolicyName="default")["Policy"])
        policy["Statement"] += [
            {"Sid": "Allow service-linked role use of the customer managed key", "Effect": "Allow",
             "Principal": {"AWS": slr}, "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                                    "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": {"AWS": slr},
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]
        t_kms.put_key_policy(KeyId=out["target_key_arn"], PolicyName="default", Policy=json.dumps(policy))
        out["target_key_allows_autoscaling"] = True
        out["autoscaling_role_arn"] = slr


# IAMFullAccess as AWS publishes it (the IAM part): a role that may change IAM, its own policies included.
IAM_FULL_ACCESS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
                                   "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
                                   "organizations:ListChildren", "organizations:ListParents",
                                   "organizations:ListPoliciesForTarget", "organizations:ListRoots",
                                   "organizations:ListPolicies", "organizations:ListTargetsForPolicy"],
     "Resource": "*"}]})


def seed_target_role_rights(args: argparse.Namespace, out: dict[str, Any], ep: str, region: str, tgt: str) -> None:
    """Issue 18's copier without KMS rights: the target role's `AdministratorAccess` is replaced by
    `AmazonEC2FullAccess` (no KMS action) and, with `--target-role-no-kms`, `IAMFullAccess` (it may
    attach a policy to itself); with `--target-role-ec2-only`, nothing else."""
    no_kms, ec2_only = getattr(args, "target_role_no_kms", False), getattr(args, "target_role_ec2_only", False)
    if not (no_kms or ec2_only):
        return
    name = f"{args.name_prefix}-target"
    t_iam = client("iam", ep, region, tgt)
    t_iam.delete_role_policy(RoleName=name, PolicyName="AdministratorAccess")
    t_iam.put_role_policy(RoleName=name, PolicyName="AmazonEC2FullAccess", PolicyDocument=EC2_FULL_ACCESS)
    if no_kms:
        t_iam.put_role_policy(RoleName=name, PolicyName="IAMFullAccess", PolicyDocument=IAM_FULL_ACCESS)
    out["target_role_policies"] = ["AmazonEC2FullAccess"] + (["IAMFullAccess"] if no_kms else [])


def seed_organization(out: dict[str, Any], ep: str, region: str, src: str, tgt: str, n: int, p: str) -> None:
    """An organization managed by the source account with one OU holding the target and n-1 more accounts."""
    org = client("organizations", ep, region, src)
    o = org.create_organization(FeatureSet="ALL")["Organization"]
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name=f"{p}-ou")["OrganizationalUnit"]
    ids = []
    for i in range(n):
        tags = [{"Key": "emulator:account-id", "Value": tgt}] if i == 0 else []
        st = org.create_account(Email=f"member{i}@example.com", AccountName=f"{p}-member-{i}",
                                Tags=tags)["CreateAccountStatus"]
        org.move_account(AccountId=st["AccountId"], SourceParentId=root, DestinationParentId=ou["Id"])
        ids.append(st["AccountId"])
    out.update(organization_id=o["Id"], organization_arn=o["Arn"], ou_id=ou["Id"], ou_arn=ou["Arn"],
               org_account_ids=ids)


def seed_org_scale(out: dict[str, Any], ep: str, region: str, src: str, p: str, nested: bool,
                   suspended: int) -> None:
    """Issue 12's organization: `nested` moves the OU's accounts (the target stays) round robin into
    nested OUs (ou/<p>-a, ou/<p>-a/<p>-a1, ou/<p>-b) and gives every member account the role
    <p>-target (trusting the source, administrator, as OrganizationAccountAccessRole is);
    `suspended` closes the last N accounts (CloseAccount: status SUSPENDED)."""
    org = client("organizations", ep, region, src)
    ids: list[str] = out["org_account_ids"]
    nested_ous: list[str] = []
    if nested:
        a = org.create_organizational_unit(ParentId=out["ou_id"], Name=f"{p}-a")["OrganizationalUnit"]["Id"]
        a1 = org.create_organizational_unit(ParentId=a, Name=f"{p}-a1")["OrganizationalUnit"]["Id"]
        b = org.create_organizational_unit(ParentId=out["ou_id"], Name=f"{p}-b")["OrganizationalUnit"]["Id"]
        nested_ous = [a, a1, b]
        for i, acct in enumerate(ids[1:], start=1):
            dest = [out["ou_id"], a, a1, b][i % 4]
            if dest != out["ou_id"]:
                org.move_account(AccountId=acct, SourceParentId=out["ou_id"], DestinationParentId=dest)
        for acct in ids[1:]:
            ensure_role(client("iam", ep, region, acct), f"{p}-target", trust_policy(f"arn:aws:iam::{src}:root"),
                        "Assumed from the source account to copy/launch shared AMIs", admin=True)
    closed = ids[len(ids) - suspended:] if suspended > 0 else []
    for acct in closed:
        org.close_account(AccountId=acct)
    out.update(nested_ou_ids=nested_ous, suspended_account_ids=closed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--source-account", default="111122223333")
    ap.add_argument("--target-account", default="444455556666")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--snapshots", type=int, default=1, help="EBS snapshots (devices) in the main AMI")
    ap.add_argument("--with-aws-managed", action="store_true", help="also an AMI encrypted with aws/ebs")
    ap.add_argument("--with-unencrypted", action="store_true", help="also an unencrypted AMI")
    ap.add_argument("--with-target-key", action="store_true", help="a customer managed key in the target")
    ap.add_argument("--share", action="store_true",
                    help="share the AMIs (launch permission) and snapshots (createVolumePermission) with the target")
    ap.add_argument("--key-allows-target", action="store_true",
                    help="name the target account root in the key policy's key-user statements")
    ap.add_argument("--name-prefix", default="amishare")
    ap.add_argument("--ec2-user", nargs="?", const="test", default=None, metavar="NAME",
                    help="an IAM user (default name test) in the source with full EC2 rights and no KMS (seed 000)")
    ap.add_argument("--launcher-role", action="store_true",
                    help="a role <prefix>-launcher in the target with full EC2 rights and no KMS")
    ap.add_argument("--target-key-default", action="store_true",
                    help="create the target key (as --with-target-key) and make it the target's EBS default key")
    ap.add_argument("--target-key-no-iam", action="store_true",
                    help="create the target key (as --with-target-key) with a key policy that names only the "
                         "target role (no delegation to the account's IAM)")
    ap.add_argument("--launcher-kms", action="store_true",
                    help="with --launcher-role: its IAM may use the target key (use actions, CreateGrant for AWS resources)")
    ap.add_argument("--locked-launcher-role", action="store_true",
                    help="a role <prefix>-locked-launcher in the target that only ec2.amazonaws.com may assume")
    ap.add_argument("--target-key-allows-autoscaling", action="store_true",
                    help="the target key policy names the target's AWSServiceRoleForAutoScaling (use + CreateGrant)")
    rights = ap.add_mutually_exclusive_group()
    rights.add_argument("--target-role-no-kms", action="store_true",
                        help="the target role gets AmazonEC2FullAccess and IAMFullAccess instead of AdministratorAccess "
                             "(no KMS right; it may change its own IAM)")
    rights.add_argument("--target-role-ec2-only", action="store_true",
                        help="the target role gets AmazonEC2FullAccess instead of AdministratorAccess (no KMS, no IAM)")
    ap.add_argument("--org-ou-accounts", type=int, default=0, metavar="N",
                    help="an organization (managed by the source) with an OU of N accounts, the target first")
    ap.add_argument("--org-nested", action="store_true",
                    help="with --org-ou-accounts: spread the accounts over nested OUs, a target role in each")
    ap.add_argument("--org-suspended", type=int, default=0, metavar="K",
                    help="with --org-ou-accounts: close (suspend) the last K accounts of the OU")
    from . import seed_guardrails

    seed_guardrails.add_arguments(ap)
    args = ap.parse_args(argv)
    why = seed_guardrails.invalid(args)
    if why:
        print(f"seed failed: {why}", file=sys.stderr)
        return 2
    for acct in (args.source_account, args.target_account):
        if len(acct) != 12 or not acct.isdigit():
            print(f"seed failed: account id {acct!r} must be 12 digits", file=sys.stderr)
            return 2
    try:
        out = seed(args)
    except Exception as e:
        print(f"seed failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
