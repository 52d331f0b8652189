"""Service control policies (issue 20, behaviour 2): an SCP on the target's OU restricts the target's
own calls and the KMS calls EC2 makes on its behalf; every level must allow; the management account
and service-linked roles are never restricted. Each story: denied, then allowed after the fix
(detaching the SCP, or widening the allow-list)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, SRC, TGT
from test_grants_and_autoscaling import GRANT_OPS, SLR, add_statements, make_group, target_may_create_grants
from test_iam_keyuse import cli, launch_and_settle, wait_past_pending

from amishare_emulator.seed_guardrails import attach_scp

@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": 0.05})  # launch_and_settle waits 0.15 s


FAIL = {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}


def org(aws):
    return aws.client("organizations", SRC)  # the source account manages the seeded organization


def test_scp_denying_create_grant_fails_the_launch_until_detached(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True, org_ou_accounts=1, org_scp_deny="kms:CreateGrant")
    ec2 = aws.as_role("ec2", s["target_role_arn"])
    iid, state, reason = launch_and_settle(ec2, s["ami_id"])
    assert (state, reason) == ("terminated", FAIL)
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["allowed"] is False and d["decided_by"] == "service control policy"
    assert d["missing_source"] == "explicit deny in service control policy"
    assert d["statement"] == f"{s['ou_id']}:{s['scp_id']}/DenyListed"
    ev = [json.loads(e["CloudTrailEvent"]) for e in ctl.get("/cloudtrail", account=TGT)
          if e["EventName"] == "CreateGrant"][-1]
    assert ev["errorMessage"] == (
        f"User: arn:aws:sts::{TGT}:assumed-role/amishare-target/test is not authorized to perform: "
        f"kms:CreateGrant on resource: {s['source_key_arn']} with an explicit deny in a service control policy")
    # a direct call is refused with the same wording
    kms = aws.as_role("kms", s["target_role_arn"])
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=s["target_role_arn"], Operations=["Decrypt"])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert e.value.response["Error"]["Message"].endswith("with an explicit deny in a service control policy")
    # the fix: the management account detaches the SCP
    org(aws).detach_policy(PolicyId=s["scp_id"], TargetId=s["ou_id"])
    _iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "running"


def test_scp_restricts_administrators_of_members_never_the_management_account(aws, seed):
    s = seed(org_ou_accounts=1)
    root = org(aws).list_roots()["Roots"][0]["Id"]
    pid = attach_scp(org(aws), root, ["ec2:RunInstances"], "no-launch")
    member = aws.client("ec2", TGT)  # the member account's administrator (no IAM entity)
    with pytest.raises(ClientError) as e:
        member.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, DryRun=True)
    assert e.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert "with an explicit deny in a service control policy" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:  # the management account: SCPs never apply
        aws.client("ec2", SRC).run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    org(aws).detach_policy(PolicyId=pid, TargetId=root)
    with pytest.raises(ClientError) as e:
        member.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"


def test_every_level_must_allow(aws, seed, ctl):
    """An allow-list SCP on the account without KMS: implicit deny; widening it fixes the launch."""
    s = seed(share=True, key_allows_target=True, org_ou_accounts=1)
    o = org(aws)
    root = o.list_roots()["Roots"][0]
    o.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "sts:*"],
                                                     "Resource": "*"}]}
    pid = o.create_policy(Content=json.dumps(allow), Description="allow-list", Name="compute-only",
                          Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
    o.attach_policy(PolicyId=pid, TargetId=TGT)
    o.detach_policy(PolicyId="p-FullAWSAccess", TargetId=TGT)
    ec2 = aws.as_role("ec2", s["target_role_arn"])
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "service control policy" and d["missing_source"] == "service control policy"
    ev = [json.loads(e["CloudTrailEvent"]) for e in ctl.get("/cloudtrail", account=TGT)
          if e["EventName"] == "CreateGrant"][-1]
    assert ev["errorMessage"].endswith("because no service control policy allows the kms:CreateGrant action")
    allow["Statement"][0]["Action"].append("kms:*")
    o.update_policy(PolicyId=pid, Content=json.dumps(allow))
    _iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "running"


def test_service_linked_roles_are_never_restricted(aws, seed):
    s = seed(share=True, key_allows_target=True, org_ou_accounts=1)
    add_statements(aws, s["source_key_id"], target_may_create_grants())
    aws.as_role("kms", s["target_role_arn"]).create_grant(KeyId=s["source_key_arn"],
                                                          GranteePrincipal=SLR.format(TGT), Operations=GRANT_OPS)
    attach_scp(org(aws), s["ou_id"], ["kms:*"], "no-kms")
    _iid, state, _ = launch_and_settle(aws.as_role("ec2", s["target_role_arn"]), s["ami_id"])
    assert state == "terminated"  # the target's role is restricted ...
    acts = make_group(aws, TGT, s["ami_id"], "web", creds_role=s["target_role_arn"])
    assert [a["StatusCode"] for a in acts] == ["Successful"]  # ... Auto Scaling's service-linked role is not


def test_attach_needs_the_policy_type_enabled(aws, seed):
    s = seed(org_ou_accounts=1)
    o = org(aws)
    pid = o.create_policy(Content=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}), Description="d", Name="d",
        Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
    with pytest.raises(ClientError) as e:
        o.attach_policy(PolicyId=pid, TargetId=s["ou_id"])
    assert e.value.response["Error"]["Code"] == "PolicyTypeNotEnabledException"
    o.enable_policy_type(RootId=o.list_roots()["Roots"][0]["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    o.attach_policy(PolicyId=pid, TargetId=s["ou_id"])


def test_scp_story_through_the_aws_cli(endpoint, aws, seed):
    s = seed(share=True, key_allows_target=True, org_ou_accounts=1, org_scp_deny="ec2:RunInstances")
    c = aws.assume(s["target_role_arn"], "cli")
    target = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    c = aws.assume(s["source_role_arn"], "cli")
    management = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    with pytest.raises(AssertionError) as e:
        cli(endpoint, target, "ec2", "run-instances", "--image-id", s["ami_id"], "--instance-type", "t3.micro",
            "--dry-run")
    assert "UnauthorizedOperation" in str(e.value)
    assert "with an explicit deny in a service control policy" in str(e.value)
    policies = cli(endpoint, management, "organizations", "list-policies-for-target", "--target-id", s["ou_id"],
                   "--filter", "SERVICE_CONTROL_POLICY")["Policies"]
    assert s["scp_id"] in [p["Id"] for p in policies]
    cli(endpoint, management, "organizations", "detach-policy", "--policy-id", s["scp_id"], "--target-id", s["ou_id"])
    r = cli(endpoint, target, "ec2", "run-instances", "--image-id", s["ami_id"], "--instance-type", "t3.micro")
    wait_past_pending()
    iid = r["Instances"][0]["InstanceId"]
    inst = cli(endpoint, target, "ec2", "describe-instances", "--instance-ids", iid)["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "running"
    assert REGION in inst["Placement"]["AvailabilityZone"]
