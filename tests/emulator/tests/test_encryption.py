"""Encryption carried through CreateSnapshot / RegisterImage / CopySnapshot / CopyImage; EBS default key;
alias/aws/ebs as an AWS managed key; pending states and progress."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest
from conftest import PENDING, REGION, SRC, wait_past_pending


def _key(kms, desc="k"):
    return kms.create_key(Description=desc)["KeyMetadata"]


def test_create_snapshot_keeps_volume_key_and_reports_progress(aws):
    ec2, kms = aws.client("ec2"), aws.client("kms")
    key = _key(kms)
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, Encrypted=True, KmsKeyId=key["KeyId"])
    assert vol["Encrypted"] is True and vol["KmsKeyId"] == key["Arn"]
    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"], Description="d")
    assert snap["State"] == "pending"
    assert snap["Encrypted"] is True and snap["KmsKeyId"] == key["Arn"]
    seen = set()
    deadline = time.time() + PENDING + 2
    while time.time() < deadline:
        s = ec2.describe_snapshots(SnapshotIds=[snap["SnapshotId"]])["Snapshots"][0]
        seen.add((s["State"], s["Progress"]))
        if s["State"] == "completed":
            break
        time.sleep(0.05)
    assert ("completed", "100%") in seen
    pend = [p for st, p in seen if st == "pending"]
    assert pend and all(p.endswith("%") and 0 <= int(p[:-1]) < 100 for p in pend)
    assert s["VolumeSize"] == 10 and s["KmsKeyId"] == key["Arn"] and s["Encrypted"] is True


def test_snapshot_completed_waiter(aws):
    ec2 = aws.client("ec2")
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    snap = ec2.create_snapshot(VolumeId=vol["VolumeId"])
    t = time.time()
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]],
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    assert time.time() - t >= PENDING * 0.5


def test_register_image_honours_block_device_mappings(aws):
    ec2, kms = aws.client("ec2"), aws.client("kms")
    key = _key(kms)
    snaps = []
    for size, enc in ((8, True), (20, True), (5, False)):
        kw = {"Encrypted": True, "KmsKeyId": key["Arn"]} if enc else {}
        v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=size, **kw)["VolumeId"]
        snaps.append(ec2.create_snapshot(VolumeId=v)["SnapshotId"])
    ami = ec2.register_image(
        Name="multi", RootDeviceName="/dev/xvda", VirtualizationType="hvm", Architecture="arm64",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snaps[0], "VolumeType": "gp3"}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": snaps[1], "VolumeSize": 30, "VolumeType": "io1",
                                                "Iops": 300, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/xvdc", "Ebs": {"SnapshotId": snaps[2]}},
            {"DeviceName": "/dev/xvdd", "VirtualName": "ephemeral0"},
        ],
    )["ImageId"]
    img = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert img["State"] == "pending"
    assert img["RootDeviceName"] == "/dev/xvda" and img["RootDeviceType"] == "ebs"
    assert img["Architecture"] == "arm64"
    bdm = {m["DeviceName"]: m for m in img["BlockDeviceMappings"]}
    assert bdm["/dev/xvda"]["Ebs"] == {"SnapshotId": snaps[0], "VolumeSize": 8, "VolumeType": "gp3",
                                       "DeleteOnTermination": True, "Encrypted": True}
    assert bdm["/dev/xvdb"]["Ebs"]["VolumeSize"] == 30 and bdm["/dev/xvdb"]["Ebs"]["Iops"] == 300
    assert bdm["/dev/xvdb"]["Ebs"]["DeleteOnTermination"] is False
    assert bdm["/dev/xvdc"]["Ebs"]["Encrypted"] is False and bdm["/dev/xvdc"]["Ebs"]["VolumeSize"] == 5
    assert bdm["/dev/xvdd"]["VirtualName"] == "ephemeral0"
    # the keys are on the snapshots (DescribeImages shows Encrypted only)
    ss = {s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=snaps[:2])["Snapshots"]}
    assert {s["KmsKeyId"] for s in ss.values()} == {key["Arn"]}
    # waiter goes through pending -> available
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["State"] == "available"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.register_image(Name="bad", RootDeviceName="/dev/xvda",
                           BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0000"}}])
    assert e.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"


# The copies below must still be pending when described, several calls later: under a loaded
# machine the session's 0.6 s pending time can pass before then, so this test makes copies pending
# for COPY_PENDING seconds (the time is fixed when a copy is made; reset restores the session's).
COPY_PENDING = 3.0


def test_copy_snapshot_encryption_rules(aws, ctl):
    ec2, kms = aws.client("ec2"), aws.client("kms")
    k1, k2 = _key(kms, "k1"), _key(kms, "k2")
    v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=3, Encrypted=True, KmsKeyId=k1["Arn"])["VolumeId"]
    s = ec2.create_snapshot(VolumeId=v)["SnapshotId"]
    u = ec2.create_snapshot(VolumeId=ec2.create_volume(AvailabilityZone="us-east-1a", Size=2)["VolumeId"])
    wait_past_pending()
    ctl.post("/config", {"pending_seconds": COPY_PENDING})
    same = ec2.copy_snapshot(SourceSnapshotId=s, SourceRegion=REGION)["SnapshotId"]
    rekey = ec2.copy_snapshot(SourceSnapshotId=s, SourceRegion=REGION, Encrypted=True,
                              KmsKeyId=f"alias/{'x'}" if False else k2["KeyId"])["SnapshotId"]
    enc_default = ec2.copy_snapshot(SourceSnapshotId=u["SnapshotId"], SourceRegion=REGION,
                                    Encrypted=True)["SnapshotId"]
    plain = ec2.copy_snapshot(SourceSnapshotId=u["SnapshotId"], SourceRegion=REGION)["SnapshotId"]
    eu = aws.client("ec2", region="eu-west-1")
    xregion = eu.copy_snapshot(SourceSnapshotId=s, SourceRegion=REGION)["SnapshotId"]
    aws_ebs = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    eu_ebs = aws.client("kms", region="eu-west-1").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    got = {x["SnapshotId"]: x for x in ec2.describe_snapshots(SnapshotIds=[same, rekey, enc_default, plain])[
        "Snapshots"]}
    assert all(x["State"] == "pending" for x in got.values())
    assert got[same]["KmsKeyId"] == k1["Arn"]
    assert got[rekey]["KmsKeyId"] == k2["Arn"]
    assert got[enc_default]["Encrypted"] is True and got[enc_default]["KmsKeyId"] == aws_ebs
    assert got[plain]["Encrypted"] is False and "KmsKeyId" not in got[plain]
    assert got[same]["OwnerId"] == SRC and got[same]["VolumeSize"] == 3
    x = eu.describe_snapshots(SnapshotIds=[xregion])["Snapshots"][0]
    assert x["KmsKeyId"] == eu_ebs and x["Encrypted"] is True
    time.sleep(COPY_PENDING + 0.25)
    assert {x["State"] for x in ec2.describe_snapshots(SnapshotIds=[same, rekey])["Snapshots"]} == {"completed"}


def test_copy_image_same_account_and_cross_region(aws, seed):
    s = seed(snapshots=2)
    ec2, kms = aws.client("ec2"), aws.client("kms")
    k2 = _key(kms, "k2")
    same = ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="same")["ImageId"]
    rekey = ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="rekey", Encrypted=True,
                           KmsKeyId=k2["Arn"])["ImageId"]
    eu = aws.client("ec2", region="eu-west-1")
    xr = eu.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="xregion")["ImageId"]
    assert ec2.describe_images(ImageIds=[same])["Images"][0]["State"] == "pending"
    wait_past_pending()

    def keys(client, ami):
        img = client.describe_images(ImageIds=[ami])["Images"][0]
        assert img["State"] == "available" and img["OwnerId"] == SRC
        sids = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]]
        assert len(sids) == 2 and not set(sids) & set(s["snapshot_ids"])
        snaps = client.describe_snapshots(SnapshotIds=sids)["Snapshots"]
        assert all(x["OwnerId"] == SRC for x in snaps)
        return {x["KmsKeyId"] for x in snaps}

    assert keys(ec2, same) == {s["source_key_arn"]}
    assert keys(ec2, rekey) == {k2["Arn"]}
    eu_ebs = aws.client("kms", region="eu-west-1").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert keys(eu, xr) == {eu_ebs}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.copy_image(SourceImageId="ami-00000000", SourceRegion=REGION, Name="nope")
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_aws_ebs_is_an_aws_managed_key_per_account_and_region(aws):
    kms = aws.client("kms")
    md = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert md["KeyManager"] == "AWS" and md["AWSAccountId"] == SRC
    assert md["Arn"].startswith(f"arn:aws:kms:{REGION}:{SRC}:key/")
    pol = json.loads(kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"])
    cond = pol["Statement"][0]["Condition"]["StringEquals"]
    assert cond == {"kms:CallerAccount": SRC, "kms:ViaService": f"ec2.{REGION}.amazonaws.com"}
    assert md["KeyId"] == kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["KeyId"]  # created once
    other = aws.client("kms", account="444455556666").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    eu = aws.client("kms", region="eu-west-1").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert len({md["Arn"], other["Arn"], eu["Arn"]}) == 3
    # an encrypted volume without KmsKeyId uses it
    vol = aws.client("ec2").create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True)
    assert vol["KmsKeyId"] == md["Arn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps(pol))
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_ebs_default_kms_key_id_get_modify_reset(aws):
    ec2, kms = aws.client("ec2"), aws.client("kms")
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == "alias/aws/ebs"
    key = _key(kms)
    assert ec2.modify_ebs_default_kms_key_id(KmsKeyId=key["KeyId"])["KmsKeyId"] == key["Arn"]
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == key["Arn"]
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True)
    assert vol["KmsKeyId"] == key["Arn"]
    r = ec2.reset_ebs_default_kms_key_id()["KmsKeyId"]
    assert r == f"arn:aws:kms:{REGION}:{SRC}:alias/aws/ebs"
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == "alias/aws/ebs"


def test_ebs_encryption_by_default_applies_to_new_volumes(aws):
    ec2 = aws.client("ec2")
    ec2.enable_ebs_encryption_by_default()
    vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)
    assert vol["Encrypted"] is True
