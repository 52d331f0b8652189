"""Cross-account visibility of images and snapshots through launch / createVolume permissions."""

from __future__ import annotations

import botocore.exceptions
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import REGION, SRC, TGT, wait_past_pending


def _ids(images):
    return sorted(i["ImageId"] for i in images)


def test_image_visible_to_target_only_with_launch_permission(aws, seed):
    s = seed(with_unencrypted=True)
    a, b = aws.client("ec2", SRC), aws.client("ec2", TGT)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b.describe_images(ImageIds=[s["ami_id"]])
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
    assert b.describe_images(ExecutableUsers=["self"])["Images"] == []
    assert b.describe_images(Owners=[SRC])["Images"] == []

    a.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [{"UserId": TGT}]})
    img = b.describe_images(ImageIds=[s["ami_id"]])["Images"][0]
    assert img["OwnerId"] == SRC and img["Public"] is False
    assert _ids(b.describe_images(ExecutableUsers=["self"])["Images"]) == [s["ami_id"]]
    assert _ids(b.describe_images(Owners=[SRC])["Images"]) == [s["ami_id"]]
    assert b.describe_images(Owners=["self"])["Images"] == []
    assert _ids(b.describe_images(Filters=[{"Name": "owner-id", "Values": [SRC]}])["Images"]) == [s["ami_id"]]
    # the owner does not see its own image under ExecutableUsers=self (no explicit permission to itself)
    assert a.describe_images(ExecutableUsers=["self"])["Images"] == []
    assert _ids(a.describe_images(Owners=["self"])["Images"]) == sorted([s["ami_id"], s["unencrypted_ami_id"]])
    attr = a.describe_image_attribute(ImageId=s["ami_id"], Attribute="launchPermission")
    assert attr["LaunchPermissions"] == [{"UserId": TGT}]

    a.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Remove": [{"UserId": TGT}]})
    with pytest.raises(botocore.exceptions.ClientError):
        b.describe_images(ImageIds=[s["ami_id"]])
    assert b.describe_images(ExecutableUsers=["self"])["Images"] == []


def test_operation_type_form_and_public_group(aws, seed):
    s = seed()
    a, b = aws.client("ec2", SRC), aws.client("ec2", TGT)
    a.modify_image_attribute(ImageId=s["ami_id"], Attribute="launchPermission", OperationType="add",
                             UserIds=[TGT])
    assert _ids(b.describe_images(ExecutableUsers=["self"])["Images"]) == [s["ami_id"]]
    a.modify_image_attribute(ImageId=s["ami_id"], Attribute="launchPermission", OperationType="remove",
                             UserIds=[TGT])
    a.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [{"Group": "all"}]})
    c = aws.client("ec2", "999988887777")
    img = c.describe_images(ImageIds=[s["ami_id"]])["Images"][0]
    assert img["Public"] is True
    assert _ids(c.describe_images(ExecutableUsers=["all"])["Images"]) == [s["ami_id"]]
    assert c.describe_images(ExecutableUsers=["self"])["Images"] == []


def test_only_the_owner_modifies_or_reads_image_permissions(aws, seed):
    s = seed(share=True)
    b = aws.client("ec2", TGT)
    for call in (
        lambda: b.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [{"UserId": "999988887777"}]}),
        lambda: b.describe_image_attribute(ImageId=s["ami_id"], Attribute="launchPermission"),
        lambda: b.deregister_image(ImageId=s["ami_id"]),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] in ("AuthFailure", "InvalidAMIID.NotFound")


def test_snapshot_sharing_both_request_forms(aws, seed):
    s = seed(snapshots=2)
    a, b = aws.client("ec2", SRC), aws.client("ec2", TGT)
    s1, s2 = s["snapshot_ids"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b.describe_snapshots(SnapshotIds=[s1])
    assert e.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
    # form 1: CreateVolumePermission.Add.N.UserId (what the Rust SDK sends for the structured form)
    a.modify_snapshot_attribute(SnapshotId=s1, CreateVolumePermission={"Add": [{"UserId": TGT}]})
    # form 2: Attribute / OperationType / UserIds
    a.modify_snapshot_attribute(SnapshotId=s2, Attribute="createVolumePermission", OperationType="add",
                                UserIds=[TGT])
    got = b.describe_snapshots(SnapshotIds=[s1, s2])["Snapshots"]
    assert sorted(x["SnapshotId"] for x in got) == sorted([s1, s2])
    assert all(x["OwnerId"] == SRC and x["KmsKeyId"] == s["source_key_arn"] for x in got)
    assert sorted(x["SnapshotId"] for x in b.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]) == \
        sorted([s1, s2])
    assert sorted(x["SnapshotId"] for x in b.describe_snapshots(OwnerIds=[SRC])["Snapshots"]) == sorted([s1, s2])
    assert b.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    for sid in (s1, s2):
        attr = a.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
        assert attr["CreateVolumePermissions"] == [{"UserId": TGT}]
    a.modify_snapshot_attribute(SnapshotId=s1, CreateVolumePermission={"Remove": [{"UserId": TGT}]})
    a.modify_snapshot_attribute(SnapshotId=s2, Attribute="createVolumePermission", OperationType="remove",
                                UserIds=[TGT])
    assert b.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"] == []
    assert a.describe_snapshot_attribute(SnapshotId=s1, Attribute="createVolumePermission")[
        "CreateVolumePermissions"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b.describe_snapshot_attribute(SnapshotId=s1, Attribute="createVolumePermission")
    assert e.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"


def test_raw_query_wire_forms(aws, seed, endpoint):
    """The exact query parameters aws-sdk-ec2 (Rust) serialises for the structured forms."""
    s = seed()
    creds = Credentials("testing", "testing")

    def call(params):
        body = "&".join(f"{k}={v}" for k, v in {"Version": "2016-11-15", **params}.items())
        req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                  "x-moto-account-id": SRC})
        SigV4Auth(creds, "ec2", REGION).add_auth(req)
        r = requests.post(endpoint + "/", data=body, headers=dict(req.headers), timeout=10)
        assert r.status_code == 200, r.text
        return r.text

    call({"Action": "ModifyImageAttribute", "ImageId": s["ami_id"], "LaunchPermission.Add.1.UserId": TGT})
    call({"Action": "ModifySnapshotAttribute", "SnapshotId": s["snapshot_id"],
          "CreateVolumePermission.Add.1.UserId": TGT})
    b = aws.client("ec2", TGT)
    assert b.describe_images(ImageIds=[s["ami_id"]])["Images"]
    assert b.describe_snapshots(SnapshotIds=[s["snapshot_id"]])["Snapshots"]
    text = call({"Action": "DescribeImageAttribute", "ImageId": s["ami_id"], "Attribute": "launchPermission"})
    assert f"<userId>{TGT}</userId>" in text
    text = call({"Action": "DescribeSnapshotAttribute", "SnapshotId": s["snapshot_id"],
                 "Attribute": "createVolumePermission"})
    assert f"<userId>{TGT}</userId>" in text
    call({"Action": "ModifyImageAttribute", "ImageId": s["ami_id"], "LaunchPermission.Remove.1.UserId": TGT})
    call({"Action": "ModifySnapshotAttribute", "SnapshotId": s["snapshot_id"],
          "CreateVolumePermission.Remove.1.UserId": TGT})
    with pytest.raises(botocore.exceptions.ClientError):
        b.describe_images(ImageIds=[s["ami_id"]])


def test_snapshots_encrypted_with_aws_managed_key_cannot_be_shared(aws, seed):
    s = seed(with_aws_managed=True)
    a = aws.client("ec2", SRC)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.modify_snapshot_attribute(SnapshotId=s["aws_managed_snapshot_id"],
                                    CreateVolumePermission={"Add": [{"UserId": TGT}]})
    assert "AWS Managed CMK can't be shared" in e.value.response["Error"]["Message"]
    # the AMI itself can be given a launch permission (the launch then fails: see test_keyuse)
    a.modify_image_attribute(ImageId=s["aws_managed_ami_id"], LaunchPermission={"Add": [{"UserId": TGT}]})


def test_target_can_copy_shared_image_same_and_other_region(aws, seed):
    s = seed(share=True, key_allows_target=True, with_target_key=True, snapshots=2)
    role = s["target_role_arn"]
    b = aws.as_role("ec2", role)
    b_eu = aws.as_role("ec2", role, region="eu-west-1")
    same = b.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy-same", Encrypted=True,
                        KmsKeyId=s["target_key_arn"])["ImageId"]
    dflt = b.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy-default")["ImageId"]
    other = b_eu.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy-eu")["ImageId"]
    wait_past_pending()
    tgt_ebs = aws.client("kms", TGT).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    tgt_ebs_eu = aws.client("kms", TGT, region="eu-west-1").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    for client, ami, want in ((b, same, s["target_key_arn"]), (b, dflt, tgt_ebs), (b_eu, other, tgt_ebs_eu)):
        img = client.describe_images(ImageIds=[ami])["Images"][0]
        assert img["State"] == "available", img
        assert img["OwnerId"] == TGT
        sids = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]]
        snaps = client.describe_snapshots(SnapshotIds=sids)["Snapshots"]
        assert len(snaps) == 2
        assert {x["OwnerId"] for x in snaps} == {TGT}
        assert {x["KmsKeyId"] for x in snaps} == {want}
    assert _ids(b.describe_images(Owners=["self"])["Images"]) == sorted([same, dflt])


def test_copy_needs_snapshot_permission_but_launch_does_not(aws, seed):
    s = seed(key_allows_target=True)
    a = aws.client("ec2", SRC)
    a.modify_image_attribute(ImageId=s["ami_id"], LaunchPermission={"Add": [{"UserId": TGT}]})
    b = aws.as_role("ec2", s["target_role_arn"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="copy")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    iid = b.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    wait_past_pending()
    st = b.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert st == "running"
