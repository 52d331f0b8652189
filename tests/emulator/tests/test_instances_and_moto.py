"""Instance lifecycle transitions, and moto behaviour the emulator does not touch still working."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import botocore.exceptions
import pytest
from conftest import EMU, PENDING, REGION, SRC, TGT, wait_past_pending


def _state(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_instance_pending_running_stop_start_terminate(aws, seed):
    s = seed()
    ec2 = aws.client("ec2")
    iid = ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    assert _state(ec2, iid) == "pending"
    wait_past_pending()
    assert _state(ec2, iid) == "running"
    r = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert r["PreviousState"]["Name"] == "running"
    assert _state(ec2, iid) == "stopping"
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    ec2.start_instances(InstanceIds=[iid])
    assert _state(ec2, iid) == "pending"
    wait_past_pending()
    assert _state(ec2, iid) == "running"
    r = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert r["CurrentState"]["Name"] == "shutting-down"
    assert _state(ec2, iid) == "shutting-down"
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    # filters see the transitional states too
    assert ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}])[
        "Reservations"]


def test_terminating_a_pending_instance(aws, seed):
    s = seed()
    ec2 = aws.client("ec2")
    iid = ec2.run_instances(ImageId=s["ami_id"], MinCount=2, MaxCount=2)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[iid])
    assert _state(ec2, iid) == "shutting-down"
    wait_past_pending()
    assert _state(ec2, iid) == "terminated"


def test_image_volumes_follow_the_image_mappings(aws, seed):
    s = seed(snapshots=3)
    ec2 = aws.client("ec2")
    iid = ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]
    assert sorted(v["Size"] for v in vols) == [4, 4, 8]
    assert {v["KmsKeyId"] for v in vols} == {s["source_key_arn"]}  # owner launches: same key
    assert {v["SnapshotId"] for v in vols} == set(s["snapshot_ids"])


def test_seed_script_cli(endpoint):
    out = subprocess.run([str(EMU / "seed"), "--endpoint", endpoint, "--snapshots", "2", "--with-aws-managed",
                          "--with-unencrypted", "--with-target-key", "--share", "--region", "eu-west-1",
                          "--source-account", "210987654321", "--target-account", "123456789098"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    expected = {"endpoint", "region", "source_account", "target_account", "source_key_id", "source_key_arn",
                "source_key_alias", "source_role_arn", "source_key_admin_role_arn", "target_role_arn",
                "volume_id", "volume_ids", "snapshot_id", "snapshot_ids", "ami_id", "aws_managed_ami_id",
                "aws_managed_snapshot_id", "aws_managed_key_arn", "unencrypted_ami_id",
                "unencrypted_snapshot_id", "target_key_id", "target_key_arn", "shared", "key_allows_target"}
    assert set(doc) == expected
    assert doc["region"] == "eu-west-1" and doc["source_key_arn"].startswith("arn:aws:kms:eu-west-1:210987654321:")
    assert len(doc["snapshot_ids"]) == 2 and doc["target_role_arn"] == "arn:aws:iam::123456789098:role/amishare-target"
    assert all(doc[k] for k in expected if k != "key_allows_target")
    bad = subprocess.run([str(EMU / "seed"), "--endpoint", endpoint, "--source-account", "12"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "12 digits" in bad.stderr


def test_seeded_key_policy_and_target_role(aws, seed):
    s = seed()
    pol = json.loads(aws.client("kms").get_key_policy(KeyId=s["source_key_id"], PolicyName="default")["Policy"])
    sids = [st["Sid"] for st in pol["Statement"]]
    assert sids == ["Enable IAM User Permissions", "Allow access for Key Administrators", "Allow use of the key",
                    "Allow attachment of persistent resources"]
    role = aws.client("iam", TGT).get_role(RoleName="amishare-target")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{SRC}:root"
    aliases = [a["AliasName"] for a in aws.client("kms").list_aliases()["Aliases"]]
    assert "alias/amishare-source" in aliases
    creds = aws.assume(s["target_role_arn"], "from-source")
    ident = aws.client("sts", creds=creds).get_caller_identity()
    assert ident["Account"] == TGT
    assert ident["Arn"] == f"arn:aws:sts::{TGT}:assumed-role/amishare-target/from-source"


# --------------------------------------------------------------------------- moto, untouched
def test_moto_vpc_iam_sts_kms_tags_still_work(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    assert ec2.describe_subnets(SubnetIds=[sub])["Subnets"][0]["VpcId"] == vpc
    assert any(r["RegionName"] == "eu-west-1" for r in ec2.describe_regions()["Regions"])
    iam = aws.client("iam")
    iam.create_user(UserName="alice")
    arn = iam.create_policy(PolicyName="KmsKeyUsagePolicy", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}))[
        "Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"][0]["PolicyArn"] == arn
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_user(UserName="alice")
    assert e.value.response["Error"]["Code"] == "EntityAlreadyExists"
    ak = iam.create_access_key(UserName="alice")["AccessKey"]
    sts = aws.client("sts", creds={"AccessKeyId": ak["AccessKeyId"], "SecretAccessKey": ak["SecretAccessKey"],
                                   "SessionToken": ""})
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{SRC}:user/alice"
    kms = aws.client("kms")
    k = kms.create_key()["KeyMetadata"]
    ct = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"hello"
    kms.create_alias(AliasName="alias/mine", TargetKeyId=k["KeyId"])
    assert kms.describe_key(KeyId="alias/mine")["KeyMetadata"]["KeyId"] == k["KeyId"]
    kms.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=7)
    assert kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_moto_image_tags_deregister_delete_snapshot_dry_run(aws, seed):
    s = seed()
    ec2 = aws.client("ec2")
    ec2.create_tags(Resources=[s["ami_id"]], Tags=[{"Key": "k", "Value": "v"}])
    img = ec2.describe_images(Filters=[{"Name": "tag:k", "Values": ["v"]}])["Images"]
    assert [i["ImageId"] for i in img] == [s["ami_id"]]
    assert {"Key": "Project", "Value": "amishare"} in img[0]["Tags"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1, DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="dry", DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    assert len(ec2.describe_images(Owners=["self"])["Images"]) == 1
    ec2.deregister_image(ImageId=s["ami_id"])
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    ec2.delete_snapshot(SnapshotId=s["snapshot_id"])
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_snapshots(SnapshotIds=[s["snapshot_id"]])


def test_register_image_without_mappings_keeps_moto_behaviour(aws):
    ec2 = aws.client("ec2")
    ami = ec2.register_image(Name="plain")["ImageId"]
    img = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert img["State"] == "available"
    assert img["BlockDeviceMappings"][0]["DeviceName"] == "/dev/sda1"


def test_cli_works_against_the_emulator(endpoint, seed):
    import os

    s = seed()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION)
    try:
        out = subprocess.run(["aws", "--endpoint-url", endpoint, "ec2", "describe-images", "--owners",
                              "123456789012"], capture_output=True, text=True, env=env, timeout=60)
    except FileNotFoundError:
        pytest.skip("aws CLI not installed")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Images"] == []


def test_seed_script_cli_worlds(endpoint):
    out = subprocess.run([str(EMU / "seed"), "--endpoint", endpoint, "--ec2-user", "--launcher-role",
                          "--target-key-default", "--org-ou-accounts", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ec2_user_arn"] == f"arn:aws:iam::{SRC}:user/test" and doc["ec2_user_access_key_id"]
    assert doc["launcher_role_arn"] == f"arn:aws:iam::{TGT}:role/amishare-launcher"
    assert doc["target_default_key_arn"] == doc["target_key_arn"] is not None
    assert doc["org_account_ids"][0] == TGT and len(doc["org_account_ids"]) == 2
    assert doc["organization_arn"].endswith(doc["organization_id"]) and doc["ou_arn"].endswith(doc["ou_id"])
