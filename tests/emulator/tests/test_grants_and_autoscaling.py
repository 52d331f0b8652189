"""KMS grants as a source of access across accounts (issue 9, behaviour 2) and Auto Scaling launching
as its service-linked role (behaviour 3), each denied first, then allowed after the documented fix."""

from __future__ import annotations

import json
import time

import pytest
from conftest import REGION, SRC, TGT


FAST_PENDING = 0.05  # this module's pending time (set per test; reset restores the session's)


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": FAST_PENDING})


def wait_past_pending():
    time.sleep(FAST_PENDING + 0.1)

SLR = "arn:aws:iam::{}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
GRANT_OPS = ["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
             "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"]


def add_statements(aws, key_id, *stmts):
    kms = aws.client("kms", SRC)
    pol = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    pol["Statement"].extend(stmts)
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(pol))


def target_may_create_grants():
    """Key policy statement of the Knowledge Center article: CreateGrant for the other account,
    WITHOUT GrantIsForAWSResource (the grant is created by a direct call)."""
    return {"Sid": "AllowTargetGrants", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TGT}:root"},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*"}


def launch_state(ec2, ami):
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    wait_past_pending()
    return iid, ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_direct_create_grant_across_accounts_needs_a_statement_without_grant_is_for_aws_resource(aws, seed):
    s = seed(share=True, key_allows_target=True)
    kms = aws.as_role("kms", s["target_role_arn"])
    with pytest.raises(kms.exceptions.ClientError) as e:
        kms.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=s["target_role_arn"], Operations=["Decrypt"])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "because no resource-based policy allows the kms:CreateGrant action" in e.value.response["Error"]["Message"]
    add_statements(aws, s["source_key_id"], target_may_create_grants())
    g = kms.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=s["target_role_arn"], Operations=["Decrypt"])
    listed = kms.list_grants(KeyId=s["source_key_arn"])["Grants"]
    assert [x["GrantId"] for x in listed] == [g["GrantId"]]
    assert listed[0]["KeyId"] == s["source_key_arn"] and listed[0]["IssuingAccount"] == f"arn:aws:iam::{TGT}:root"


def test_grant_to_a_role_is_a_source_of_access_and_ends_with_retire_or_revoke(aws, seed, ctl):
    s = seed(share=True, launcher_role=True)
    ec2 = aws.as_role("ec2", s["launcher_role_arn"])
    _, state = launch_state(ec2, s["ami_id"])
    assert state == "terminated"
    add_statements(aws, s["source_key_id"], target_may_create_grants())
    kms = aws.as_role("kms", s["target_role_arn"])
    g = kms.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=s["launcher_role_arn"], Operations=GRANT_OPS,
                         RetiringPrincipal=s["target_role_arn"])
    iid, state = launch_state(ec2, s["ami_id"])
    assert state == "running"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "grant" and d["statement"] == f"grant {g['GrantId']}"
    # ListRetirableGrants (own account's principal) sees it; only the retiring principal retires it
    retirable = kms.list_retirable_grants(RetiringPrincipal=s["target_role_arn"])["Grants"]
    assert [x["GrantId"] for x in retirable] == [g["GrantId"]]
    lk = aws.as_role("kms", s["launcher_role_arn"])
    with pytest.raises(lk.exceptions.ClientError) as e:
        lk.retire_grant(GrantToken=g["GrantToken"])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    kms.retire_grant(GrantToken=g["GrantToken"])
    assert kms.list_grants(KeyId=s["source_key_arn"])["Grants"] == []
    _, state = launch_state(ec2, s["ami_id"])
    assert state == "terminated"
    g2 = kms.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=s["launcher_role_arn"], Operations=GRANT_OPS)
    kms.revoke_grant(KeyId=s["source_key_arn"], GrantId=g2["GrantId"])
    assert kms.list_grants(KeyId=s["source_key_arn"])["Grants"] == []


def test_grant_with_encryption_context_constraint_does_not_cover_other_volumes(aws, seed):
    s = seed(share=True, launcher_role=True)
    add_statements(aws, s["source_key_id"], target_may_create_grants())
    aws.as_role("kms", s["target_role_arn"]).create_grant(
        KeyId=s["source_key_arn"], GranteePrincipal=s["launcher_role_arn"], Operations=GRANT_OPS,
        Constraints={"EncryptionContextSubset": {"aws:ebs:id": "vol-0000000000000000"}})
    _, state = launch_state(aws.as_role("ec2", s["launcher_role_arn"]), s["ami_id"])
    assert state == "terminated"


def make_group(aws, account, ami, name, creds_role=None):
    ec2 = aws.as_role("ec2", creds_role) if creds_role else aws.client("ec2", account)
    asg = aws.as_role("autoscaling", creds_role) if creds_role else aws.client("autoscaling", account)
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": ami,
                                                                            "InstanceType": "t3.micro"})
    asg.create_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name,
                                                                             "Version": "$Latest"},
                                  MinSize=1, MaxSize=2, DesiredCapacity=1, AvailabilityZones=[REGION + "a"])
    wait_past_pending()
    return asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]


def test_service_linked_role_can_be_created(aws):
    iam = aws.client("iam", TGT)
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert role["Arn"] == SLR.format(TGT) and role["RoleName"] == "AWSServiceRoleForAutoScaling"


def test_autoscaling_same_account_key_policy_must_allow_the_service_linked_role(aws, seed, ctl):
    s = seed()
    acts = make_group(aws, SRC, s["ami_id"], "web")
    assert [a["StatusCode"] for a in acts] == ["Failed"]
    assert acts[0]["StatusMessage"].endswith("Client.InternalError: Client error on launch")
    d = [x for x in ctl.get("/decisions") if x["operation"] == "RunInstances"][-1]
    assert d["caller"] == f"arn:aws:sts::{SRC}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling"
    slr = SLR.format(SRC)  # created with the group
    add_statements(aws, s["source_key_id"],
                   {"Sid": "SLRUse", "Effect": "Allow", "Principal": {"AWS": slr},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                               "kms:DescribeKey"], "Resource": "*"},
                   {"Sid": "SLRGrants", "Effect": "Allow", "Principal": {"AWS": slr}, "Action": "kms:CreateGrant",
                    "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}})
    acts = make_group(aws, SRC, s["ami_id"], "web2")
    assert [a["StatusCode"] for a in acts] == ["Successful"]
    d = [x for x in ctl.get("/decisions") if x["operation"] == "RunInstances"][-1]
    assert d["allowed"] and d["decided_by"] == "key policy" and d["statement"] == "SLRGrants"


def test_autoscaling_cross_account_needs_a_grant_for_the_service_linked_role(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True)
    acts = make_group(aws, TGT, s["ami_id"], "web", creds_role=s["target_role_arn"])
    assert [a["StatusCode"] for a in acts] == ["Failed"]
    add_statements(aws, s["source_key_id"], target_may_create_grants())
    kms = aws.as_role("kms", s["target_role_arn"])
    g = kms.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=SLR.format(TGT), Operations=GRANT_OPS)
    acts = make_group(aws, TGT, s["ami_id"], "web2", creds_role=s["target_role_arn"])
    assert [a["StatusCode"] for a in acts] == ["Successful"]
    d = [x for x in ctl.get("/decisions") if x["operation"] == "RunInstances"][-1]
    assert d["decided_by"] == "grant" and d["statement"] == f"grant {g['GrantId']}"
