"""Permissions boundaries and session policies (issue 20, behaviour 5; IAM user guide "Permissions
boundaries for IAM entities", "Session policies"): they cap the identity policies of a role or a
session, for its own calls and the KMS calls EC2 makes for it; a key policy naming the session ARN is
not capped, one naming the role ARN is."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import SRC, TGT
from test_iam_keyuse import kms_usage_policy, launch_and_settle


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": 0.05})


def grant_event(ctl, account):
    return [json.loads(e["CloudTrailEvent"]) for e in ctl.get("/cloudtrail", account=account)
            if e["EventName"] == "CreateGrant"][-1]


def test_boundary_without_kms_fails_the_launch_until_widened(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True, launcher_role=True, launcher_boundary=True)
    iam = aws.client("iam", TGT)
    iam.put_role_policy(RoleName="amishare-launcher", PolicyName="KmsKeyUsagePolicy",
                        PolicyDocument=kms_usage_policy(s["source_key_arn"]))
    assert iam.get_role(RoleName="amishare-launcher")["Role"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"] == s["launcher_boundary_arn"]
    ec2 = aws.as_role("ec2", s["launcher_role_arn"])
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "permissions boundary" and d["missing_source"] == "permissions boundary"
    assert grant_event(ctl, TGT)["errorMessage"].endswith(
        "because no permissions boundary allows the kms:CreateGrant action")
    # the boundary caps only: widening it (a new default version) fixes the launch
    doc = json.loads(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:*", "autoscaling:*", "sts:AssumeRole", "kms:*"], "Resource": "*"}]}))
    iam.create_policy_version(PolicyArn=s["launcher_boundary_arn"], PolicyDocument=json.dumps(doc), SetAsDefault=True)
    _iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "running"
    # an explicit Deny in the boundary wins
    doc["Statement"].append({"Effect": "Deny", "Action": "kms:CreateGrant", "Resource": "*"})
    iam.create_policy_version(PolicyArn=s["launcher_boundary_arn"], PolicyDocument=json.dumps(doc), SetAsDefault=True)
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated"
    assert grant_event(ctl, TGT)["errorMessage"].endswith("with an explicit deny in a permissions boundary")
    iam.delete_role_permissions_boundary(RoleName="amishare-launcher")
    assert launch_and_settle(ec2, s["ami_id"])[1] == "running"


def test_boundary_caps_api_actions(aws, seed):
    s = seed(launcher_role=True, launcher_boundary=True)
    iam = aws.client("iam", TGT)
    iam.put_role_policy(RoleName="amishare-launcher", PolicyName="iam-read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
    role_iam = aws.as_role("iam", s["launcher_role_arn"])
    with pytest.raises(ClientError) as e:
        role_iam.list_roles()
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert "because no permissions boundary allows the iam:ListRoles action" in e.value.response["Error"]["Message"]
    iam.delete_role_permissions_boundary(RoleName="amishare-launcher")
    assert role_iam.list_roles()["Roles"]


def assume_with(aws, role_arn, session, **kw):
    c = aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session, **kw)["Credentials"]
    return c


def test_session_policy_caps_the_session(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True)
    only_ec2 = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
    ec2 = aws.client("ec2", creds=assume_with(aws, s["target_role_arn"], "capped", Policy=only_ec2))
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated"
    assert grant_event(ctl, TGT)["errorMessage"] == (
        f"User: arn:aws:sts::{TGT}:assumed-role/amishare-target/capped is not authorized to perform: "
        f"kms:CreateGrant on resource: {s['source_key_arn']} because no session policy allows the "
        "kms:CreateGrant action")
    with pytest.raises(ClientError) as e:  # the session's own calls too
        aws.client("iam", creds=assume_with(aws, s["target_role_arn"], "capped2", Policy=only_ec2)).list_roles()
    assert "because no session policy allows the iam:ListRoles action" in e.value.response["Error"]["Message"]
    # the fix: a session policy (here a managed one, PolicyArns) that includes the KMS actions
    t_iam = aws.client("iam", TGT)
    arn = t_iam.create_policy(PolicyName="ec2-and-kms", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "kms:*"],
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    ec2 = aws.client("ec2", creds=assume_with(aws, s["target_role_arn"], "fixed", PolicyArns=[{"arn": arn}]))
    assert launch_and_settle(ec2, s["ami_id"])[1] == "running"
    # a session without session policies has the role's permissions
    assert launch_and_settle(aws.as_role("ec2", s["target_role_arn"]), s["ami_id"])[1] == "running"


def test_key_policy_naming_the_session_is_not_capped_naming_the_role_is(aws):
    iam = aws.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{SRC}:root"}}]}
    role = iam.create_role(RoleName="App", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    session_arn = f"arn:aws:sts::{SRC}:assumed-role/App/s1"
    kms = aws.client("kms")
    admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SRC}:root"},
             "Action": "kms:*", "Resource": "*"}

    def key_naming(principal):
        pol = {"Version": "2012-10-17", "Statement": [admin, {
            "Sid": "Use", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:Encrypt", "Resource": "*"}]}
        return kms.create_key(Policy=json.dumps(pol))["KeyMetadata"]["Arn"]

    by_role, by_session = key_naming(role), key_naming(session_arn)
    only_ec2 = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
    app = aws.client("kms", creds=assume_with(aws, role, "s1", Policy=only_ec2))
    with pytest.raises(ClientError) as e:
        app.encrypt(KeyId=by_role, Plaintext=b"x")
    assert "because no session policy allows the kms:Encrypt action" in e.value.response["Error"]["Message"]
    assert app.encrypt(KeyId=by_session, Plaintext=b"x")["KeyId"] == by_session


def test_user_boundary(aws, seed):
    s = seed(ec2_user="test")
    iam = aws.client("iam")
    arn = iam.create_policy(PolicyName="describe-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName="test", PermissionsBoundary=arn)
    assert iam.get_user(UserName="test")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    creds = {"AccessKeyId": s["ec2_user_access_key_id"], "SecretAccessKey": s["ec2_user_secret_access_key"],
             "SessionToken": ""}
    ec2 = aws.client("ec2", creds=creds)
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert "because no permissions boundary allows the ec2:RunInstances action" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        ec2.describe_images(DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    iam.delete_user_permissions_boundary(UserName="test")
    assert "PermissionsBoundary" not in iam.get_user(UserName="test")["User"]
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    u = iam.create_user(UserName="bounded", PermissionsBoundary=arn)["User"]
    assert u["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
