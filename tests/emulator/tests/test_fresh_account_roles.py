"""Issue 18's worlds: a copier (the target role) without KMS rights, with or without the right to
change its own IAM (seed options), and a fresh target account without Auto Scaling's
service-linked role until someone creates it (IAM CreateServiceLinkedRole, as amishare's plan does)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import TGT

SLR_NAME = "AWSServiceRoleForAutoScaling"


def inline_policies(aws, role: str) -> list[str]:
    return sorted(aws.client("iam", TGT).list_role_policies(RoleName=role)["PolicyNames"])


def test_target_role_without_kms_keeps_ec2_and_iam_rights_only(aws, seed):
    s = seed(target_role_no_kms=True)
    assert s["target_role_policies"] == ["AmazonEC2FullAccess", "IAMFullAccess"]
    assert inline_policies(aws, "amishare-target") == ["AmazonEC2FullAccess", "IAMFullAccess"]
    doc = aws.client("iam", TGT).get_role_policy(RoleName="amishare-target", PolicyName="AmazonEC2FullAccess")
    assert "kms" not in str(doc["PolicyDocument"]).lower()


def test_target_role_ec2_only_has_no_iam_rights(aws, seed):
    s = seed(target_role_ec2_only=True)
    assert s["target_role_policies"] == ["AmazonEC2FullAccess"]
    assert inline_policies(aws, "amishare-target") == ["AmazonEC2FullAccess"]


def test_a_fresh_account_has_no_autoscaling_role_until_it_is_created(aws, seed):
    seed()
    iam = aws.client("iam", TGT)
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=SLR_NAME)
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert role["RoleName"] == SLR_NAME
    assert iam.get_role(RoleName=SLR_NAME)["Role"]["Arn"] == role["Arn"]
