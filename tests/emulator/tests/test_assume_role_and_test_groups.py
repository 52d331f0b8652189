"""Issue 11: AssumeRole honours the role's trust policy (and, for the caller's side, its IAM), and a
test group (launch template with a network interface + Auto Scaling group of one) launches as
AWSServiceRoleForAutoScaling: InService when the key policy names the role, a Failed activity with
AWS's message when it does not, and ForceDelete removes the group and its instance."""

from __future__ import annotations

import json
import time

import pytest
from conftest import REGION, SRC, TGT

from amishare_emulator.seed import make_ami

FAST_PENDING = 0.05


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": FAST_PENDING})


def denied(call, caller_arn, role_arn):
    with pytest.raises(Exception) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDenied", err
    assert err["Message"] == (f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: "
                              f"{role_arn}")


def session_arn(role_arn, name="test"):
    acct = role_arn.split(":")[4]
    return f"arn:aws:sts::{acct}:assumed-role/{role_arn.split('/')[-1]}/{name}"


def test_a_trusted_role_is_assumed_across_accounts_and_within_the_account(aws, seed):
    s = seed(launcher_role=True)
    src_sts = aws.as_role("sts", s["source_role_arn"])
    tgt = src_sts.assume_role(RoleArn=s["target_role_arn"], RoleSessionName="amishare")["Credentials"]
    tgt_sts = aws.client("sts", creds=tgt)
    out = tgt_sts.assume_role(RoleArn=s["launcher_role_arn"], RoleSessionName="amishare-test-launch")
    assert out["AssumedRoleUser"]["Arn"] == session_arn(s["launcher_role_arn"], "amishare-test-launch")


def test_a_trust_policy_that_does_not_name_the_caller_refuses_with_access_denied(aws, seed):
    s = seed(locked_launcher_role=True)
    tgt_sts = aws.as_role("sts", s["target_role_arn"])
    role = s["locked_launcher_role_arn"]
    denied(lambda: tgt_sts.assume_role(RoleArn=role, RoleSessionName="probe"), session_arn(s["target_role_arn"]), role)


def test_across_accounts_the_callers_iam_must_allow_assume_role_too(aws, seed):
    s = seed(ec2_user="test")
    user = aws.client("sts", creds={"AccessKeyId": s["ec2_user_access_key_id"],
                                    "SecretAccessKey": s["ec2_user_secret_access_key"], "SessionToken": ""})
    # the target role trusts the source account, but the user's IAM (EC2 only) has no sts:AssumeRole
    denied(lambda: user.assume_role(RoleArn=s["target_role_arn"], RoleSessionName="probe"), s["ec2_user_arn"],
           s["target_role_arn"])


def test_same_account_a_trust_policy_naming_the_caller_is_enough_and_an_explicit_deny_wins(aws, seed):
    s = seed(launcher_role=True)
    iam = aws.client("iam", TGT)
    iam.create_role(RoleName="bare", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TGT}:root"}, "Action": "sts:AssumeRole"}]}))
    named = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TGT}:role/bare"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="names-bare", AssumeRolePolicyDocument=named)
    bare = aws.as_role("sts", f"arn:aws:iam::{TGT}:role/bare")
    bare.assume_role(RoleArn=f"arn:aws:iam::{TGT}:role/names-bare", RoleSessionName="probe")
    # naming only the account delegates to the caller's IAM, which (no policy) allows nothing
    denied(lambda: bare.assume_role(RoleArn=s["launcher_role_arn"], RoleSessionName="probe"),
           session_arn(f"arn:aws:iam::{TGT}:role/bare"), s["launcher_role_arn"])
    deny = json.loads(named)
    deny["Statement"].append({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName="names-bare", PolicyDocument=json.dumps(deny))
    denied(lambda: bare.assume_role(RoleArn=f"arn:aws:iam::{TGT}:role/names-bare", RoleSessionName="probe"),
           session_arn(f"arn:aws:iam::{TGT}:role/bare"), f"arn:aws:iam::{TGT}:role/names-bare")


def target_ami(aws, key_arn):
    ec2 = aws.client("ec2", TGT)
    ami, _v, _s = make_ami(ec2, REGION + "a", "on-target-key", [8], True, key_arn, {"k": "v"})
    # A new image may still be pending (as on AWS); a group launches only an available one.
    deadline = time.time() + 30
    while ec2.describe_images(ImageIds=[ami])["Images"][0]["State"] != "available":
        assert time.time() < deadline, f"{ami} never became available"
        time.sleep(0.1)
    return ami


def run_group(aws, name, ami, wait=1.5):
    ec2 = aws.client("ec2", TGT)
    asg = aws.client("autoscaling", TGT)
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": ami, "InstanceType": "t3.nano",
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False, "DeleteOnTermination": True}]})
    asg.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1,
                                  LaunchTemplate={"LaunchTemplateName": name, "Version": "$Latest"},
                                  AvailabilityZones=[REGION + "a"])
    deadline = time.time() + wait
    while True:
        acts = asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        if acts and all(a["StatusCode"] != "InProgress" for a in acts) or time.time() > deadline:
            break
        time.sleep(0.1)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return acts, group


def delete_group(aws, name, instance_ids):
    ec2 = aws.client("ec2", TGT)
    asg = aws.client("autoscaling", TGT)
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"] == []
    ec2.delete_launch_template(LaunchTemplateName=name)
    assert all(r["Instances"][0]["State"]["Name"] in ("shutting-down", "terminated") for r in
               ec2.describe_instances(InstanceIds=instance_ids)["Reservations"])


def test_a_test_group_on_a_key_naming_the_auto_scaling_role_reaches_in_service(aws, seed):
    s = seed(with_target_key=True, target_key_allows_autoscaling=True)
    ami = target_ami(aws, s["target_key_arn"])
    acts, group = run_group(aws, "amishare-test-ok", ami)
    assert [a["StatusCode"] for a in acts] == ["Successful"]
    assert [i["LifecycleState"] for i in group["Instances"]] == ["InService"]
    delete_group(aws, "amishare-test-ok", [i["InstanceId"] for i in group["Instances"]])


def test_a_test_group_on_a_key_not_naming_the_auto_scaling_role_fails_with_aws_message(aws, seed):
    s = seed(with_target_key=True)
    # the default key policy delegates to IAM; the service-linked role's permissions hold no KMS action
    ami = target_ami(aws, s["target_key_arn"])
    acts, group = run_group(aws, "amishare-test-bad", ami)
    assert [a["StatusCode"] for a in acts] == ["Failed"]
    assert acts[0]["StatusMessage"].endswith("Client.InternalError: Client error on launch")
    delete_group(aws, "amishare-test-bad", [i["InstanceId"] for i in group["Instances"]])
