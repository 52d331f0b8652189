"""Organizations (issue 9, behaviour 4): launch permissions naming an organization or an OU, and
aws:PrincipalOrgID / aws:PrincipalOrgPaths from the caller's account's place in the organization."""

from __future__ import annotations

import json
import time

import pytest
from conftest import SRC, TGT


FAST_PENDING = 0.05  # this module's pending time (set per test; reset restores the session's)


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": FAST_PENDING})


def wait_past_pending():
    time.sleep(FAST_PENDING + 0.1)

OUTSIDE = "999988887777"


def visible(aws, account, ami):
    ec2 = aws.client("ec2", account)
    try:
        return [i["ImageId"] for i in ec2.describe_images(ImageIds=[ami])["Images"]] == [ami]
    except ec2.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidAMIID.NotFound"
        return False


@pytest.mark.parametrize("kind", ["OrganizationalUnitArn", "OrganizationArn"])
def test_launch_permission_for_an_ou_or_organization(aws, seed, kind):
    s = seed(org_ou_accounts=2)
    arn = s["ou_arn"] if kind == "OrganizationalUnitArn" else s["organization_arn"]
    member = s["org_account_ids"][1]
    assert not visible(aws, TGT, s["ami_id"])
    ec2 = aws.client("ec2", SRC)
    ec2.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [{kind: arn}]})
    perms = ec2.describe_image_attribute(ImageId=s["ami_id"], Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{kind: arn}]
    assert visible(aws, TGT, s["ami_id"]) and visible(aws, member, s["ami_id"])
    assert not visible(aws, OUTSIDE, s["ami_id"])
    mine = aws.client("ec2", TGT).describe_images(ExecutableUsers=["self"])["Images"]
    assert [i["ImageId"] for i in mine] == [s["ami_id"]]
    ec2.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Remove": [{kind: arn}]})
    assert not visible(aws, TGT, s["ami_id"])


def test_principal_org_id_and_paths_come_from_the_callers_account(aws, seed, ctl):
    s = seed(org_ou_accounts=1, share=True)
    ec2 = aws.client("ec2", SRC)
    ec2.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [{"UserId": OUTSIDE}]})
    ec2.modify_snapshot_attribute(SnapshotId=s["snapshot_id"], CreateVolumePermission={"Add": [{"UserId": OUTSIDE}]})

    def launch(account):
        e = aws.as_role("ec2", s["target_role_arn"]) if account == TGT else aws.client("ec2", account)
        iid = e.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        wait_past_pending()
        return e.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]

    assert launch(TGT) == "terminated"
    kms = aws.client("kms", SRC)
    pol = json.loads(kms.get_key_policy(KeyId=s["source_key_id"], PolicyName="default")["Policy"])
    root = s["ou_arn"].split("/")[1]  # arn:aws:organizations::MGMT:ou/o-xxx/ou-xxx
    path = f"{s['organization_id']}/*/{s['ou_id']}/*"
    assert root == s["organization_id"]
    pol["Statement"] += [
        {"Sid": "OrgUse", "Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt", "kms:DescribeKey"],
         "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": s["organization_id"]}}},
        {"Sid": "OuGrants", "Effect": "Allow", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [path]},
                       "Bool": {"kms:GrantIsForAWSResource": "true"},
                       "StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}]
    kms.put_key_policy(KeyId=s["source_key_id"], PolicyName="default", Policy=json.dumps(pol))
    assert launch(TGT) == "running"
    assert launch(OUTSIDE) == "terminated"
    d = [x for x in ctl.get("/decisions") if x["operation"] == "RunInstances" and x["caller_account"] == TGT][-1]
    assert d["allowed"] and d["statement"].startswith("OuGrants")


def test_snapshots_are_shared_by_account_id_only(aws, seed):
    s = seed(org_ou_accounts=1)
    ec2 = aws.client("ec2", SRC)
    with pytest.raises(ec2.exceptions.ClientError):
        ec2.modify_snapshot_attribute(SnapshotId=s["snapshot_id"], Attribute="createVolumePermission",
                                      OperationType="add", UserIds=[s["organization_arn"]])
    assert aws.client("ec2", TGT).describe_snapshots(RestorableByUserIds=["self"])["Snapshots"] == []


def _tree(org, parent):
    """Every account under `parent` (nested OUs included), with its status, reading every page."""
    out = {}
    for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent,
                                                                       PaginationConfig={"PageSize": 2}):
        out.update({a["Id"]: a["Status"] for a in page["Accounts"]})
    for page in org.get_paginator("list_children").paginate(ParentId=parent, ChildType="ORGANIZATIONAL_UNIT"):
        for child in page["Children"]:
            out.update(_tree(org, child["Id"]))
    return out


def test_nested_ous_and_a_suspended_account(aws, seed):
    """Issue 12's organization: accounts spread over nested OUs, the last one closed. CloseAccount
    leaves the account in the organization with Status SUSPENDED (Organizations API reference,
    Account.Status: ACTIVE | SUSPENDED | PENDING_CLOSURE), listed by ListAccountsForParent."""
    s = seed(org_ou_accounts=6, org_nested=True, org_suspended=1)
    org = aws.client("organizations", SRC)
    assert len(s["nested_ou_ids"]) == 3
    direct = org.list_children(ParentId=s["ou_id"], ChildType="ORGANIZATIONAL_UNIT")["Children"]
    assert {c["Id"] for c in direct} == {s["nested_ou_ids"][0], s["nested_ou_ids"][2]}
    page = org.list_accounts_for_parent(ParentId=s["ou_id"], MaxResults=1)
    assert len(page["Accounts"]) == 1 and page.get("NextToken")
    tree = _tree(org, s["ou_id"])
    assert set(tree) == set(s["org_account_ids"])
    assert s["suspended_account_ids"] == [s["org_account_ids"][-1]]
    assert {a for a, st in tree.items() if st == "SUSPENDED"} == set(s["suspended_account_ids"])
    # a member two OUs down: ListParents walks up a1 -> a -> the OU
    deep, chain, child = s["org_account_ids"][2], [], s["org_account_ids"][2]
    while child != s["ou_id"]:
        child = org.list_parents(ChildId=child)["Parents"][0]["Id"]
        chain.append(child)
    assert deep and chain == [s["nested_ou_ids"][1], s["nested_ou_ids"][0], s["ou_id"]]
    # every member has the target role to assume
    member = s["org_account_ids"][1]
    assert aws.client("iam", member).get_role(RoleName="amishare-target")["Role"]["Arn"].startswith(
        f"arn:aws:iam::{member}:role/")
