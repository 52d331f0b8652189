"""Resource control policies on KMS keys (issue 20, behaviour 6): the data-perimeter RCP of the source
key's organization refuses principals outside the organization whatever the key policy says; the
documented fixes (an account exception with aws:PrincipalAccount, a tag-excluded key) allow them."""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, SRC, TGT
from test_iam_keyuse import launch_and_settle, wait_past_pending

from amishare_emulator.seed_guardrails import MANAGEMENT_DEFAULT, perimeter_rcp


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": 0.05})


def test_perimeter_rcp_refuses_outsiders_until_excepted(aws, seed, ctl):
    s = seed(share=True, key_allows_target=True, with_target_key=True, source_org_rcp=True)
    assert s["source_management_account"] == MANAGEMENT_DEFAULT
    ec2 = aws.as_role("ec2", s["target_role_arn"])
    iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "resource control policy"
    assert d["statement"].endswith(f"{s['rcp_id']}/EnforceOrgIdentities")
    ev = [json.loads(e["CloudTrailEvent"]) for e in ctl.get("/cloudtrail", account=TGT)
          if e["EventName"] == "CreateGrant"][-1]
    assert ev["errorMessage"].endswith("with an explicit deny in a resource control policy")
    copy_id = ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy", Encrypted=True,
                             KmsKeyId=s["target_key_arn"])["ImageId"]
    wait_past_pending()
    assert ec2.describe_images(ImageIds=[copy_id])["Images"][0]["State"] == "failed"
    with pytest.raises(ClientError) as e:  # direct calls of outsiders too
        aws.as_role("kms", s["target_role_arn"]).describe_key(KeyId=s["source_key_arn"])
    assert e.value.response["Error"]["Message"].endswith("with an explicit deny in a resource control policy")
    # principals of the organization are not affected
    assert launch_and_settle(aws.client("ec2", SRC), s["ami_id"])[1] == "running"
    # the fix: the target account as an exception of the perimeter
    org = aws.client("organizations", MANAGEMENT_DEFAULT)
    doc = perimeter_rcp(s["source_organization_id"])
    doc["Statement"][0]["Condition"]["StringNotEqualsIfExists"]["aws:PrincipalAccount"] = [TGT]
    org.update_policy(PolicyId=s["rcp_id"], Content=json.dumps(doc))
    assert launch_and_settle(ec2, s["ami_id"])[1] == "running"


def test_tag_excluded_key_and_scope(aws, seed):
    s = seed(share=True, key_allows_target=True, source_org_rcp=True)
    org = aws.client("organizations", MANAGEMENT_DEFAULT)
    doc = copy.deepcopy(perimeter_rcp(s["source_organization_id"]))
    doc["Statement"][0]["Condition"]["StringNotEqualsIfExists"]["aws:ResourceTag/dp:exclude:identity"] = "true"
    org.update_policy(PolicyId=s["rcp_id"], Content=json.dumps(doc))
    ec2 = aws.as_role("ec2", s["target_role_arn"])
    assert launch_and_settle(ec2, s["ami_id"])[1] == "terminated"
    aws.client("kms", SRC).tag_resource(KeyId=s["source_key_id"],
                                        Tags=[{"TagKey": "dp:exclude:identity", "TagValue": "true"}])
    assert launch_and_settle(ec2, s["ami_id"])[1] == "running"
    # RCPs never apply to keys of the management account
    m_kms = aws.client("kms", MANAGEMENT_DEFAULT)
    pol = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT_DEFAULT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Target", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TGT}:root"},
         "Action": "kms:DescribeKey", "Resource": "*"}]}
    key = m_kms.create_key(Policy=json.dumps(pol))["KeyMetadata"]["Arn"]
    assert aws.as_role("kms", s["target_role_arn"]).describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key


def test_seed_cli_builds_the_guardrail_worlds(endpoint, aws):
    import subprocess

    from conftest import EMU

    out = subprocess.run([str(EMU / "seed"), "--endpoint", endpoint, "--share", "--launcher-role",
                          "--launcher-boundary", "--org-ou-accounts", "1", "--org-scp-deny", "kms:CreateGrant",
                          "--allowed-amis", "audit-mode"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {"scp_id", "scp_target_id", "launcher_boundary_arn", "allowed_amis", "allowed_amis_providers"} <= set(doc)
    pols = aws.client("organizations", SRC).list_policies_for_target(TargetId=doc["ou_id"],
                                                                     Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert doc["scp_id"] in [p["Id"] for p in pols]
    assert aws.client("ec2", TGT).get_allowed_images_settings()["State"] == "audit-mode"
    ctl_reset = subprocess.run(["curl", "-s", "-X", "POST", endpoint + "/_emulator/reset"], capture_output=True)
    assert ctl_reset.returncode == 0
    out = subprocess.run([str(EMU / "seed"), "--endpoint", endpoint, "--source-org-rcp"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rcp_id"].startswith("p-")
    bad = subprocess.run([str(EMU / "seed"), "--endpoint", endpoint, "--org-scp-deny", "kms:*"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--org-scp-deny needs --org-ou-accounts" in bad.stderr


def test_service_linked_roles_are_never_restricted_by_rcps(aws, seed):
    from test_grants_and_autoscaling import GRANT_OPS, SLR, add_statements, make_group, target_may_create_grants

    s = seed(share=True, key_allows_target=True, source_org_rcp=True)
    org = aws.client("organizations", MANAGEMENT_DEFAULT)
    root = org.list_roots()["Roots"][0]["Id"]
    org.detach_policy(PolicyId=s["rcp_id"], TargetId=root)  # the grant is made before the perimeter
    add_statements(aws, s["source_key_id"], target_may_create_grants())
    aws.as_role("kms", s["target_role_arn"]).create_grant(KeyId=s["source_key_arn"],
                                                          GranteePrincipal=SLR.format(TGT), Operations=GRANT_OPS)
    org.attach_policy(PolicyId=s["rcp_id"], TargetId=root)
    assert launch_and_settle(aws.as_role("ec2", s["target_role_arn"]), s["ami_id"])[1] == "terminated"
    acts = make_group(aws, TGT, s["ami_id"], "web", creds_role=s["target_role_arn"])
    assert [a["StatusCode"] for a in acts] == ["Successful"]


def test_a_member_may_describe_its_organization_but_not_list_its_policies(aws, seed):
    """Organizations API reference "Reference: API operations by account": DescribeOrganization from
    any account of the organization; ListPoliciesForTarget, DescribePolicy and ListParents only from
    the management account or a delegated administrator (AccessDeniedException otherwise)."""
    s = seed(share=True, key_allows_target=True, source_org_rcp=True)
    member = aws.client("organizations", SRC)
    o = member.describe_organization()["Organization"]
    assert (o["Id"], o["MasterAccountId"]) == (s["source_organization_id"], MANAGEMENT_DEFAULT)
    calls = [lambda: member.list_policies_for_target(TargetId=SRC, Filter="RESOURCE_CONTROL_POLICY"),
             lambda: member.describe_policy(PolicyId=s["rcp_id"]),
             lambda: member.list_parents(ChildId=SRC)]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    mgmt = aws.client("organizations", MANAGEMENT_DEFAULT)
    listed = mgmt.list_policies_for_target(TargetId=SRC, Filter="RESOURCE_CONTROL_POLICY")["Policies"]
    assert listed, "the management account lists them"
