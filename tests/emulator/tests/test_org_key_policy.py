"""Issue 12: a key policy that admits an OU instead of listing accounts. `Principal {"AWS": "*"}`
conditioned on `ForAnyValue:StringLike aws:PrincipalOrgPaths ["o-x/r-x/ou-x/*"]` (IAM user guide,
"AWS global condition context keys": aws:PrincipalOrgPaths, the path of the caller's account, an OU's
subtree matched with a trailing `*`) AND `kms:ViaService = ec2.<region>.amazonaws.com` (KMS developer
guide, "kms:ViaService": set when an AWS service calls KMS on the principal's behalf), the grant
statement also `kms:GrantIsForAWSResource`. A member of the OU (nested OUs included) launches and
copies the OU-shared AMI (EC2 user guide, "Share an AMI with organizations or OUs"); an account
outside the OU is refused the key; the same statements with another region's ViaService admit
nobody. Written from those pages, not from amishare's policy engine."""

from __future__ import annotations

import json
import time

from conftest import REGION, SRC, TGT

FAST_PENDING = 0.05
OUTSIDE = "999988887777"


def _fast(ctl):
    ctl.post("/pending", {"seconds": FAST_PENDING})


def _wait():
    time.sleep(FAST_PENDING + 0.15)


def _ou_statements(path: str, region: str) -> list[dict]:
    via = {"kms:ViaService": f"ec2.{region}.amazonaws.com"}
    org = {"aws:PrincipalOrgPaths": [path]}
    return [
        {"Sid": "Allow use of the key by OU", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*", "Condition": {"StringEquals": via, "ForAnyValue:StringLike": org}},
        {"Sid": "Allow attachment of persistent resources by OU", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
         "Condition": {"StringEquals": via, "ForAnyValue:StringLike": org,
                       "Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]


def _setup(aws, seed, ctl, region_of_via: str = REGION):
    _fast(ctl)
    s = seed(org_ou_accounts=4, org_nested=True, with_target_key=True)
    ec2 = aws.client("ec2", SRC)
    # The image with the OU (one OrganizationalUnitArn), the snapshot with each account id.
    ec2.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [
        {"OrganizationalUnitArn": s["ou_arn"]}, {"UserId": OUTSIDE}]})
    accounts = [*s["org_account_ids"], OUTSIDE]
    ec2.modify_snapshot_attribute(SnapshotId=s["snapshot_id"], Attribute="createVolumePermission",
                                  OperationType="add", UserIds=accounts)
    kms = aws.client("kms", SRC)
    pol = json.loads(kms.get_key_policy(KeyId=s["source_key_id"], PolicyName="default")["Policy"])
    root = aws.client("organizations", SRC).list_roots()["Roots"][0]["Id"]
    path = f"{s['organization_id']}/{root}/{s['ou_id']}/*"
    pol["Statement"] += _ou_statements(path, region_of_via)
    kms.put_key_policy(KeyId=s["source_key_id"], PolicyName="default", Policy=json.dumps(pol))
    return s


def _launch(aws, s, account):
    e = aws.as_role("ec2", s["target_role_arn"]) if account == TGT else aws.client("ec2", account)
    iid = e.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    _wait()
    return e.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_ou_members_launch_and_copy_through_the_org_paths_statements(aws, seed, ctl):
    s = _setup(aws, seed, ctl)
    perms = aws.client("ec2", SRC).describe_image_attribute(
        ImageId=s["ami_id"], Attribute="launchPermission")["LaunchPermissions"]
    assert {"OrganizationalUnitArn": s["ou_arn"]} in perms
    deep = s["org_account_ids"][2]  # two OUs below the shared one
    assert _launch(aws, s, TGT) == "running"
    assert _launch(aws, s, deep) == "running"
    assert _launch(aws, s, OUTSIDE) == "terminated"
    b = aws.as_role("ec2", s["target_role_arn"])
    new = b.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="org-copy", Encrypted=True,
                       KmsKeyId=s["target_key_arn"])["ImageId"]
    b.get_waiter("image_available").wait(ImageIds=[new], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    d = [x for x in ctl.get("/decisions") if x["caller_account"] == deep and x["operation"] == "RunInstances"][-1]
    assert d["allowed"] and "by OU" in d["statement"]


def test_the_statements_admit_nobody_through_another_regions_ec2(aws, seed, ctl):
    s = _setup(aws, seed, ctl, region_of_via="eu-west-1")
    assert _launch(aws, s, TGT) == "terminated"
    assert _launch(aws, s, s["org_account_ids"][1]) == "terminated"
