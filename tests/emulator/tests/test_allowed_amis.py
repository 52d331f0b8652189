"""Allowed AMIs and EC2 declarative policies (issue 20, behaviours 4 and 7): a target that enabled Allowed
AMIs without the source account as a provider neither sees, launches, copies nor scales the shared
AMI; the documented fix (the source account id in a criterion, by the account or by the
organization's declarative policy) allows it. Own AMIs are always allowed."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import REGION, SRC, TGT
from test_grants_and_autoscaling import make_group
from test_iam_keyuse import cli


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": 0.05})


def test_enabled_hides_and_refuses_until_the_source_is_a_provider(aws, seed):
    s = seed(share=True, key_allows_target=True, allowed_amis="enabled", allowed_amis_providers="amazon")
    ec2 = aws.as_role("ec2", s["target_role_arn"])
    got = ec2.get_allowed_images_settings()
    assert got["State"] == "enabled" and got["ManagedBy"] == "account"
    assert got["ImageCriteria"] == [{"ImageProviders": ["amazon"]}]
    assert ec2.describe_images(ExecutableUsers=["self"])["Images"] == []
    with pytest.raises(ClientError) as e:
        ec2.describe_images(ImageIds=[s["ami_id"]])
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, InstanceType="t3.micro")
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy")
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    acts = make_group(aws, TGT, s["ami_id"], "web", creds_role=s["target_role_arn"])
    assert [a["StatusCode"] for a in acts] == ["Failed"]
    assert "Launching EC2 instance failed" in acts[0]["StatusMessage"]
    # own AMIs are always allowed: the source sees its image
    assert aws.client("ec2", SRC).describe_images(ImageIds=[s["ami_id"]])["Images"]
    # the fix: the source account id as a provider
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["amazon", SRC]}])
    img = ec2.describe_images(ImageIds=[s["ami_id"]])["Images"][0]
    assert img["ImageAllowed"] is True
    assert ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"]
    assert ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy")["ImageId"]
    acts = make_group(aws, TGT, s["ami_id"], "web2", creds_role=s["target_role_arn"])
    # no longer refused by Allowed AMIs: an instance is launched (its key use is another story)
    assert len(acts) == 1 and "Launching a new EC2 instance: i-" in acts[0]["Description"]


def test_audit_mode_and_criteria(aws, seed):
    s = seed(share=True)
    ec2 = aws.client("ec2", TGT)
    assert ec2.get_allowed_images_settings()["State"] == "disabled"
    assert "ImageAllowed" not in ec2.describe_images(ImageIds=[s["ami_id"]])["Images"][0]
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[
        {"ImageProviders": [SRC], "ImageNames": ["other-*"]},       # AND within a criterion: no
        {"ImageProviders": ["amazon"]}])                            # OR across criteria: no
    assert ec2.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")[
        "AllowedImagesSettingsState"] == "audit-mode"
    img = ec2.describe_images(ImageIds=[s["ami_id"]])["Images"][0]  # audit-mode: visible, flagged
    assert img["ImageAllowed"] is False
    assert ec2.describe_images(Filters=[{"Name": "image-allowed", "Values": ["false"]}])["Images"]
    assert ec2.describe_images(Filters=[{"Name": "image-allowed", "Values": ["true"]}])["Images"] == []
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[
        {"ImageProviders": [SRC], "ImageNames": ["amishare-*"], "CreationDateCondition": {"MaximumDaysSinceCreated": 1}}])
    assert ec2.describe_images(ImageIds=[s["ami_id"]])["Images"][0]["ImageAllowed"] is True
    with pytest.raises(ClientError) as e:
        ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": ["none", SRC]}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert ec2.disable_allowed_images_settings()["AllowedImagesSettingsState"] == "disabled"
    # per region: another region of the same account is untouched
    assert aws.client("ec2", TGT, region="us-west-2").get_allowed_images_settings()["State"] == "disabled"


def test_allowed_amis_story_through_the_aws_cli(endpoint, aws, seed):
    s = seed(share=True, allowed_amis="enabled")
    c = aws.assume(s["target_role_arn"], "cli")
    target = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    got = cli(endpoint, target, "ec2", "get-allowed-images-settings")
    assert got["State"] == "enabled"
    with pytest.raises(AssertionError) as e:
        cli(endpoint, target, "ec2", "run-instances", "--image-id", s["ami_id"], "--instance-type", "t3.micro")
    assert "InvalidAMIID.NotFound" in str(e.value)
    cli(endpoint, target, "ec2", "replace-image-criteria-in-allowed-images-settings", "--image-criteria",
        f"ImageProviders=amazon,{SRC}")
    r = cli(endpoint, target, "ec2", "run-instances", "--image-id", s["ami_id"], "--instance-type", "t3.micro")
    assert r["Instances"][0]["ImageId"] == s["ami_id"]


DECLARATIVE = {"ec2_attributes": {"allowed_images_settings": {
    "state": {"@@assign": "enabled"},
    "image_criteria": {"criteria_1": {"allowed_image_providers": {"@@append": ["amazon"]}}}}}}


def test_declarative_policy_sets_and_locks_the_setting(aws, seed):
    s = seed(share=True, key_allows_target=True, org_ou_accounts=1)
    org = aws.client("organizations", SRC)
    root = org.list_roots()["Roots"][0]["Id"]
    ec2 = aws.client("ec2", TGT)
    ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": [SRC]}])
    ec2.enable_allowed_images_settings(AllowedImagesSettingsState="audit-mode")
    org.enable_policy_type(RootId=root, PolicyType="DECLARATIVE_POLICY_EC2")
    pid = org.create_policy(Content=json.dumps(DECLARATIVE), Description="ec2", Name="allowed-amis",
                            Type="DECLARATIVE_POLICY_EC2")["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=pid, TargetId=s["ou_id"])
    eff = aws.client("organizations", TGT).describe_effective_policy(PolicyType="DECLARATIVE_POLICY_EC2")
    assert json.loads(eff["EffectivePolicy"]["PolicyContent"])["ec2_attributes"]["allowed_images_settings"][
        "state"] == "enabled"
    got = ec2.get_allowed_images_settings()
    assert got["ManagedBy"] == "declarative-policy" and got["State"] == "enabled"
    for region in (REGION, "eu-west-1"):  # every region
        assert aws.client("ec2", TGT, region=region).get_allowed_images_settings()["State"] == "enabled"
    with pytest.raises(ClientError) as e:
        ec2.disable_allowed_images_settings()
    assert e.value.response["Error"]["Code"] == "OperationNotPermitted"
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    # applies to Auto Scaling's service-linked role too
    assert [a["StatusCode"] for a in make_group(aws, TGT, s["ami_id"], "web")] == ["Failed"]
    # the fix: the organization adds the source as a provider (or detaches: the account's own settings return)
    DECLARATIVE_FIX = json.loads(json.dumps(DECLARATIVE))
    DECLARATIVE_FIX["ec2_attributes"]["allowed_images_settings"]["image_criteria"]["criteria_1"][
        "allowed_image_providers"]["@@append"].append(SRC)
    org.update_policy(PolicyId=pid, Content=json.dumps(DECLARATIVE_FIX))
    assert ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"]
    org.detach_policy(PolicyId=pid, TargetId=s["ou_id"])
    got = ec2.get_allowed_images_settings()
    assert (got["State"], got["ManagedBy"]) == ("audit-mode", "account")
    with pytest.raises(ClientError) as e:
        aws.client("organizations", TGT).describe_effective_policy(PolicyType="DECLARATIVE_POLICY_EC2")
    assert e.value.response["Error"]["Code"] == "EffectivePolicyNotFoundException"
