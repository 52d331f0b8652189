"""IAM on API actions (issue 20, behaviour 1): every action the emulator serves is authorised against
the caller's identity policies, with AWS's error shape per service; DryRun answers truthfully. Each
story: denied first, then allowed after the documented fix (an identity policy allowing the action)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, SRC

ALLOW_EC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}


def make_role(aws, name, policy=None, account=SRC):
    iam = aws.client("iam", account=account)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return iam, arn


def error(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"], \
        exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_run_instances_needs_ec2_permission_and_dry_run_tells_the_truth(aws, seed, ctl):
    s = seed()
    iam, arn = make_role(aws, "NoEc2", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
    creds = aws.assume(arn, "probe")
    ec2 = aws.client("ec2", creds=creds)
    session = f"arn:aws:sts::{SRC}:assumed-role/NoEc2/probe"
    for dry in (True, False):
        with pytest.raises(ClientError) as e:
            ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, InstanceType="t3.micro", DryRun=dry)
        code, msg, status = error(e)
        assert (code, status) == ("UnauthorizedOperation", 403)
        assert msg.startswith(
            f"You are not authorized to perform this operation. User: {session} is not authorized to perform: "
            f"ec2:RunInstances on resource: arn:aws:ec2:{REGION}::image/{s['ami_id']} because no "
            "identity-based policy allows the ec2:RunInstances action. Encoded authorization failure message: ")
    with pytest.raises(ClientError) as e:
        ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy", DryRun=True)
    code, copy_msg, _ = error(e)
    assert code == "UnauthorizedOperation" and f"ec2:CopyImage on resource: arn:aws:ec2:{REGION}::image/*" in copy_msg
    token = msg.rsplit(": ", 1)[1]
    decoded = json.loads(aws.client("sts").decode_authorization_message(EncodedMessage=token)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "ec2:RunInstances"
    assert decoded["context"]["principal"]["arn"] == session
    assert aws.client("ec2").describe_instances()["Reservations"] == []  # nothing was launched
    d = [x for x in ctl.get("/decisions") if x.get("api_call") and x["operation"] == "ec2:RunInstances"][-1]
    assert d["operation"] == "ec2:RunInstances" and d["decided_by"] == "identity policy"
    ev = [json.loads(e["CloudTrailEvent"]) for e in ctl.get("/cloudtrail", account=SRC)
          if e["EventName"] == "RunInstances"][-1]
    assert ev["errorCode"] == "Client.UnauthorizedOperation" and ev["errorMessage"] == msg
    # the fix: an identity policy allowing EC2
    iam.put_role_policy(RoleName="NoEc2", PolicyName="ec2", PolicyDocument=json.dumps(ALLOW_EC2))
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, InstanceType="t3.micro", DryRun=True)
    assert error(e)[:1] == ("DryRunOperation",)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(DryRun=True)
    assert error(e)[0] == "DryRunOperation"
    with pytest.raises(ClientError) as e:
        ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy", DryRun=True)
    assert error(e)[0] == "DryRunOperation"
    assert ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"]


def test_resource_scoped_policy_and_explicit_deny(aws, seed):
    s = seed()
    other = "ami-00000000000000000"
    iam, arn = make_role(aws, "Scoped", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:RunInstances",
         "Resource": [f"arn:aws:ec2:{REGION}::image/{s['ami_id']}", f"arn:aws:ec2:{REGION}:{SRC}:instance/*"]},
        {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]})
    ec2 = aws.client("ec2", creds=aws.assume(arn))
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=other, MinCount=1, MaxCount=1, DryRun=True)
    assert error(e)[0] == "UnauthorizedOperation"
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert error(e)[0] == "DryRunOperation"
    iam.put_role_policy(RoleName="Scoped", PolicyName="deny", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}]}))
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    code, msg, _ = error(e)
    assert code == "UnauthorizedOperation" and "with an explicit deny in an identity-based policy" in msg
    iam.delete_role_policy(RoleName="Scoped", PolicyName="deny")
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert error(e)[0] == "DryRunOperation"


@pytest.mark.parametrize("service,call,code,status,wording", [
    ("iam", lambda c: c.create_role(RoleName="x", AssumeRolePolicyDocument="{}"), "AccessDenied", 403,
     f"iam:CreateRole on resource: arn:aws:iam::{SRC}:role/x because no identity-based policy allows"),
    ("autoscaling", lambda c: c.describe_auto_scaling_groups(), "AccessDenied", 403,
     "autoscaling:DescribeAutoScalingGroups on resource: * because no identity-based policy allows"),
    ("kms", lambda c: c.list_keys(), "AccessDeniedException", 400,
     "kms:ListKeys on resource: * because no identity-based policy allows"),
    ("ssm", lambda c: c.put_parameter(Name="/a/b", Value="v", Type="String"), "AccessDeniedException", 400,
     f"ssm:PutParameter on resource: arn:aws:ssm:{REGION}:{SRC}:parameter/a/b because no identity-based"),
    ("organizations", lambda c: c.describe_organization(), "AccessDeniedException", 400,
     "You don't have permissions to access this resource."),
    ("cloudtrail", lambda c: c.lookup_events(), "AccessDeniedException", 400,
     "cloudtrail:LookupEvents on resource: * because no identity-based policy allows"),
])
def test_every_service_answers_in_its_own_shape(aws, service, call, code, status, wording):
    iam, arn = make_role(aws, "Nothing", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
    client = aws.client(service, creds=aws.assume(arn))
    with pytest.raises(ClientError) as e:
        call(client)
    got_code, msg, got_status = error(e)
    assert (got_code, got_status) == (code, status) and wording in msg
    prefix = "ec2" if service == "ec2" else service
    iam.put_role_policy(RoleName="Nothing", PolicyName="fix", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": f"{prefix}:*", "Resource": "*"}]}))
    try:
        call(client)
    except ClientError as again:  # moto's own answer (e.g. no organization): no longer a denial
        assert again.response["Error"]["Code"] not in ("AccessDenied", "AccessDeniedException")


def test_administrator_callers_and_free_actions(aws, seed):
    """Callers with no IAM entity stay administrators; GetCallerIdentity needs no permission."""
    s = seed()
    ec2 = aws.client("ec2")
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert error(e)[0] == "DryRunOperation"
    _iam, arn = make_role(aws, "Bare", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
    sts = aws.client("sts", creds=aws.assume(arn, "who"))
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{SRC}:assumed-role/Bare/who"
