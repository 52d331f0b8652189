"""Identity policies decide key use together with the key policy (issue 9, behaviour 1): the seed
000/002/003 story through the aws CLI, cross-account KmsKeyUsagePolicy, named roles, explicit Denies,
the target's customer managed EBS default key, and direct KMS calls."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from conftest import REGION, SRC, TGT


FAST_PENDING = 0.05  # this module's pending time (set per test; reset restores the session's)


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": FAST_PENDING})


def wait_past_pending():
    time.sleep(FAST_PENDING + 0.1)

USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def cli(endpoint, creds, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=creds[0], AWS_SECRET_ACCESS_KEY=creds[1], AWS_DEFAULT_REGION=REGION,
               AWS_PAGER="")
    env.pop("AWS_SESSION_TOKEN", None)
    if len(creds) > 2:
        env["AWS_SESSION_TOKEN"] = creds[2]
    out = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def launch_and_settle(ec2, ami):
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    wait_past_pending()
    i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return iid, i["State"]["Name"], i.get("StateReason")


def kms_usage_policy(key_arn, actions=None):
    """The KmsKeyUsagePolicy of DOMAIN.md: the use actions, and CreateGrant for AWS resources."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Use", "Effect": "Allow", "Action": actions or USE, "Resource": key_arn},
        {"Sid": "Grants", "Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
         "Resource": key_arn, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]})


def test_seed_000_story_through_the_aws_cli(endpoint, aws, seed, ctl):
    """An IAM user with full EC2 rights launches an image on a customer managed key: the launch
    fails, CloudTrail shows the CreateGrant denial naming the user, the articles' policy fixes it."""
    s = seed(ec2_user="test")
    user = (s["ec2_user_access_key_id"], s["ec2_user_secret_access_key"])
    assert s["ec2_user_arn"] == f"arn:aws:iam::{SRC}:user/test"
    r = cli(endpoint, user, "ec2", "run-instances", "--image-id", s["ami_id"], "--instance-type", "t3.micro")
    iid = r["Instances"][0]["InstanceId"]
    assert r["Instances"][0]["State"]["Name"] == "pending"
    wait_past_pending()
    inst = cli(endpoint, user, "ec2", "describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "terminated"
    assert inst["StateReason"] == {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}
    c = aws.assume(s["source_role_arn"], "admin")
    admin = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])  # the source's administrator role
    # AmazonEC2FullAccess has no cloudtrail:LookupEvents: the user is refused, the administrator reads
    with pytest.raises(AssertionError, match="UnauthorizedOperation|AccessDenied"):
        cli(endpoint, user, "cloudtrail", "lookup-events")
    evs = cli(endpoint, admin, "cloudtrail", "lookup-events", "--lookup-attributes",
              "AttributeKey=EventName,AttributeValue=CreateGrant")["Events"]
    assert len(evs) == 1
    ev = json.loads(evs[0]["CloudTrailEvent"])
    assert ev["errorCode"] == "AccessDenied"
    assert ev["errorMessage"].startswith(
        f"User: arn:aws:iam::{SRC}:user/test is not authorized to perform: kms:CreateGrant on resource: "
        f"{s['source_key_arn']}")
    assert "no identity-based policy allows" in ev["errorMessage"]
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["allowed"] is False and d["decided_by"] == "identity policy" and d["missing_action"] == "kms:CreateGrant"
    # the articles' fix: CreateGrant on the key for AWS resources, attached to the user
    fix = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:CreateGrant"],
                                                   "Resource": [s["source_key_arn"]],
                                                   "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}}]}
    cli(endpoint, admin, "iam", "put-user-policy", "--user-name", "test", "--policy-name", "kms-create-grant",
        "--policy-document", json.dumps(fix))
    r = cli(endpoint, user, "ec2", "run-instances", "--image-id", s["ami_id"], "--instance-type", "t3.micro")
    iid2 = r["Instances"][0]["InstanceId"]
    wait_past_pending()
    inst = cli(endpoint, user, "ec2", "describe-instances", "--instance-ids", iid2)["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "running"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid2][0]
    assert d["allowed"] and d["decided_by"] == "identity policy"
    assert d["statement"].startswith("kms-create-grant/")
    assert d["actions"]["kms:Decrypt"]["statement"] == "Enable IAM User Permissions"


def test_cross_account_needs_key_policy_and_identity_policy(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True, launcher_role=True)
    ec2 = aws.as_role("ec2", s["launcher_role_arn"])
    iid, state, reason = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated" and reason["Code"] == "Client.InternalError"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "identity policy" and "the key policy allows" in d["reasons"][0]
    # the target's KmsKeyUsagePolicy on the launcher role makes it work
    aws.client("iam", TGT).put_role_policy(RoleName="amishare-launcher", PolicyName="KmsKeyUsagePolicy",
                                           PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "running"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "key policy + identity policy"
    assert d["statement"] == "Allow attachment of persistent resources + KmsKeyUsagePolicy/Grants"


def test_identity_policy_without_key_policy_is_not_enough_cross_account(aws, seed):
    s = seed(share=True, launcher_role=True)  # key policy does not name the target
    aws.client("iam", TGT).put_role_policy(RoleName="amishare-launcher", PolicyName="KmsKeyUsagePolicy",
                                           PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    _, state, _ = launch_and_settle(aws.as_role("ec2", s["launcher_role_arn"]), s["ami_id"])
    assert state == "terminated"


def test_key_policy_naming_one_role_gives_other_roles_nothing(aws, seed):
    s = seed(share=True, launcher_role=True)
    kms = aws.client("kms", SRC)
    pol = json.loads(kms.get_key_policy(KeyId=s["source_key_id"], PolicyName="default")["Policy"])
    for st in pol["Statement"][2:]:
        st["Principal"]["AWS"] = [st["Principal"]["AWS"], s["target_role_arn"]]
    kms.put_key_policy(KeyId=s["source_key_id"], PolicyName="default", Policy=json.dumps(pol))
    aws.client("iam", TGT).put_role_policy(RoleName="amishare-launcher", PolicyName="KmsKeyUsagePolicy",
                                           PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    _, state, _ = launch_and_settle(aws.as_role("ec2", s["launcher_role_arn"]), s["ami_id"])
    assert state == "terminated"  # the launcher is not the named role
    _, state, _ = launch_and_settle(aws.as_role("ec2", s["target_role_arn"]), s["ami_id"])
    assert state == "running"     # the named role (AdministratorAccess) is


@pytest.mark.parametrize("exception,expected", [(False, "terminated"), (True, "running")])
def test_identity_ip_deny_applies_to_ec2_unless_via_aws_service_exception(aws, seed, ctl, exception, expected):
    s = seed(ec2_user="test")
    iam = aws.client("iam", SRC)
    iam.put_user_policy(UserName="test", PolicyName="grant", PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    cond = {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}}
    if exception:
        cond["Bool"] = {"aws:ViaAWSService": "false"}
    iam.put_user_policy(UserName="test", PolicyName="ip-deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "OnlyOffice", "Effect": "Deny", "Action": "*",
                                                 "Resource": "*", "Condition": cond}]}))
    ec2 = aws.client("ec2", creds={"AccessKeyId": s["ec2_user_access_key_id"],
                                   "SecretAccessKey": s["ec2_user_secret_access_key"], "SessionToken": ""})
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == expected
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    if not exception:
        assert d["decided_by"] == "identity policy" and d["statement"] == "ip-deny/OnlyOffice"
        assert d["missing_source"] == "explicit deny in identity policy"


def test_customer_managed_default_key_of_the_launcher_is_needed_too(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True, launcher_role=True, target_key_default=True)
    iam = aws.client("iam", TGT)
    iam.put_role_policy(RoleName="amishare-launcher", PolicyName="KmsKeyUsagePolicy",
                        PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    ec2 = aws.as_role("ec2", s["launcher_role_arn"])
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated"
    denied = [x for x in ctl.get("/decisions") if x["resource"] == iid and not x["allowed"]]
    assert [x["key"] for x in denied] == [s["target_key_arn"]]
    iam.put_role_policy(RoleName="amishare-launcher", PolicyName="TargetKey",
                        PolicyDocument=kms_usage_policy(s["target_key_arn"]))
    _, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "running"


def test_direct_kms_calls_check_identity_policies_in_the_same_account(aws, seed, ctl):
    s = seed(ec2_user="test")
    creds = {"AccessKeyId": s["ec2_user_access_key_id"], "SecretAccessKey": s["ec2_user_secret_access_key"],
             "SessionToken": ""}
    kms = aws.client("kms", creds=creds)
    with pytest.raises(kms.exceptions.ClientError) as e:
        kms.encrypt(KeyId=s["source_key_id"], Plaintext=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "because no identity-based policy allows the kms:Encrypt action" in e.value.response["Error"]["Message"]
    aws.client("iam", SRC).put_user_policy(UserName="test", PolicyName="use",
                                           PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    time.sleep(0.01)
    assert kms.encrypt(KeyId=s["source_key_id"], Plaintext=b"x")["KeyId"] == s["source_key_arn"]
    d = ctl.get("/decisions")[-1]
    assert d["direct_call"] and d["decided_by"] == "identity policy" and d["statement"] == "use/Use"


def test_create_volume_from_an_encrypted_snapshot_checks_the_key(aws, seed, ctl):
    s = seed(ec2_user="test")
    creds = {"AccessKeyId": s["ec2_user_access_key_id"], "SecretAccessKey": s["ec2_user_secret_access_key"],
             "SessionToken": ""}
    ec2 = aws.client("ec2", creds=creds)

    def create():
        v = ec2.create_volume(SnapshotId=s["snapshot_id"], AvailabilityZone=REGION + "a")["VolumeId"]
        first = ec2.describe_volumes(VolumeIds=[v])["Volumes"][0]["State"]
        wait_past_pending()
        return v, first, ec2.describe_volumes(VolumeIds=[v])["Volumes"][0]["State"]

    v, first, last = create()
    assert (first, last) == ("creating", "error")
    assert [d["operation"] for d in ctl.get("/decisions") if d["resource"] == v] == ["CreateVolume"]
    aws.client("iam", SRC).put_user_policy(UserName="test", PolicyName="use",
                                           PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    _, first, last = create()
    assert last == "available"


def test_seeded_target_key_without_iam_delegation_ignores_identity_policies(aws, seed):
    s = seed(target_key_no_iam=True, launcher_role=True)
    assert s["target_key_delegates_to_iam"] is False
    kms = aws.as_role("kms", s["target_role_arn"])  # not even the account's administrator may read it
    pol = json.loads(kms.get_key_policy(KeyId=s["target_key_id"], PolicyName="default")["Policy"])
    assert [st["Principal"]["AWS"] for st in pol["Statement"]] == [s["target_role_arn"]]
    # The launcher's IAM allows every KMS action on the key, yet the key policy does not name it.
    aws.client("iam", TGT).put_role_policy(RoleName="amishare-launcher", PolicyName="KmsAll",
                                           PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                               {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
    with pytest.raises(Exception) as denied:
        aws.as_role("kms", s["launcher_role_arn"]).describe_key(KeyId=s["target_key_arn"])
    assert "AccessDenied" in str(denied.value) or "not authorized" in str(denied.value)
    aws.as_role("kms", s["target_role_arn"]).describe_key(KeyId=s["target_key_arn"])  # the named role may
