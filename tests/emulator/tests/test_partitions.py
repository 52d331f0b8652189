"""The aws-cn and aws-us-gov partitions: ARNs in the partition of the region (moto), the seed's
policies in that partition, and AssumeRole refusing a role ARN of another partition (emulator)."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest
from conftest import SRC, TGT, wait_past_pending

PARTITIONS = [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]


@pytest.mark.parametrize("region,partition", PARTITIONS)
def test_seeded_world_is_in_the_partition_of_its_region(aws, seed, region, partition):
    s = seed(region=region)
    assert s["source_key_arn"].startswith(f"arn:{partition}:kms:{region}:{SRC}:key/")
    assert s["source_role_arn"] == f"arn:{partition}:iam::{SRC}:role/amishare-source"
    assert s["target_role_arn"] == f"arn:{partition}:iam::{TGT}:role/amishare-target"
    kms = aws.client("kms", SRC, region=region)
    policy = json.loads(kms.get_key_policy(KeyId=s["source_key_arn"], PolicyName="default")["Policy"])
    principals = json.dumps([st["Principal"] for st in policy["Statement"]])
    assert f"arn:{partition}:iam::{SRC}:root" in principals
    assert "arn:aws:" not in principals, principals
    wait_past_pending()
    img = aws.client("ec2", SRC, region=region).describe_images(ImageIds=[s["ami_id"]])["Images"][0]
    assert img["State"] == "available"


@pytest.mark.parametrize("region,partition", PARTITIONS)
def test_assume_role_only_of_the_regions_partition(aws, seed, region, partition):
    seed(region=region)
    sts = aws.client("sts", SRC, region=region)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=f"arn:aws:iam::{TGT}:role/amishare-target", RoleSessionName="wrong")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "Partition \"aws\" is not valid" in e.value.response["Error"]["Message"]
    creds = sts.assume_role(RoleArn=f"arn:{partition}:iam::{TGT}:role/amishare-target",
                            RoleSessionName="right")["Credentials"]
    who = aws.client("sts", region=region, creds=creds).get_caller_identity()
    assert who["Arn"] == f"arn:{partition}:sts::{TGT}:assumed-role/amishare-target/right"
    assert who["Account"] == TGT


def test_commercial_regions_are_unchanged(aws, seed):
    s = seed()
    creds = aws.assume(s["target_role_arn"])
    assert aws.client("sts", creds=creds).get_caller_identity()["Arn"].startswith("arn:aws:sts::")
