"""Key state and key spec (issue 20, behaviour 3; KMS developer guide "Key states of AWS KMS keys", EBS
user guide "Amazon EBS encryption"), KMS key ARNs accepted wherever AWS documents `KeyId`, and the
Organizations facts of issue 20 (reset, CreateAccount's access role)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from conftest import SRC, TGT
from test_iam_keyuse import launch_and_settle, wait_past_pending


@pytest.fixture(autouse=True)
def _fast_pending(ctl):
    ctl.post("/pending", {"seconds": 0.05})


def test_disable_and_enable_key_by_arn(aws):
    kms = aws.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["Arn"])
    assert kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert e.value.response["Error"]["Code"] == "DisabledException"
    assert e.value.response["Error"]["Message"] == f"{key['Arn']} is disabled."
    kms.enable_key(KeyId=key["Arn"])
    assert kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["KeyId"] == key["Arn"]
    kms.enable_key_rotation(KeyId=key["Arn"])
    assert kms.get_key_rotation_status(KeyId=key["Arn"])["KeyRotationEnabled"] is True
    kms.schedule_key_deletion(KeyId=key["Arn"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=b"x" * 40, KeyId=key["Arn"])
    assert e.value.response["Error"]["Code"] == "KMSInvalidStateException"
    assert e.value.response["Error"]["Message"] == f"{key['Arn']} is pending deletion."
    with pytest.raises(ClientError) as e:
        kms.create_grant(KeyId=key["Arn"], GranteePrincipal=f"arn:aws:iam::{SRC}:root", Operations=["Decrypt"])
    assert e.value.response["Error"]["Code"] == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key["Arn"])
    kms.enable_key(KeyId=key["Arn"])
    kms.create_grant(KeyId=key["Arn"], GranteePrincipal=f"arn:aws:iam::{SRC}:root", Operations=["Decrypt"])


@pytest.mark.parametrize("disable", ["disable", "schedule"])
def test_unusable_source_key_fails_launch_and_copy_until_restored(aws, seed, ctl, disable):
    s = seed(share=True, key_allows_target=True, with_target_key=True)
    kms = aws.client("kms")
    if disable == "disable":
        kms.disable_key(KeyId=s["source_key_arn"])
    else:
        kms.schedule_key_deletion(KeyId=s["source_key_arn"], PendingWindowInDays=7)
    ec2 = aws.as_role("ec2", s["target_role_arn"])
    iid, state, reason = launch_and_settle(ec2, s["ami_id"])
    assert state == "terminated" and reason["Code"] == "Client.InternalError"
    copy = ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion="us-east-1", Name="copy", Encrypted=True,
                          KmsKeyId=s["target_key_arn"])["ImageId"]
    wait_past_pending()
    img = ec2.describe_images(ImageIds=[copy])["Images"][0]
    assert img["State"] == "failed"
    assert img["StateReason"]["Message"] == f"Given key ID is not accessible: {s['source_key_arn']}"
    ev = [json.loads(e["CloudTrailEvent"]) for e in ctl.get("/cloudtrail", account=TGT)
          if e["EventName"] == "CreateGrant"][-1]
    want = ("DisabledException", "is disabled.") if disable == "disable" else \
        ("KMSInvalidStateException", "is pending deletion.")
    assert ev["errorCode"] == want[0] and ev["errorMessage"] == f"{s['source_key_arn']} {want[1]}"
    d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
    assert d["decided_by"] == "key" and "key state is" in d["statement"]
    if disable == "disable":
        kms.enable_key(KeyId=s["source_key_arn"])
    else:
        kms.cancel_key_deletion(KeyId=s["source_key_arn"])
        kms.enable_key(KeyId=s["source_key_arn"])
    _iid, state, _ = launch_and_settle(ec2, s["ami_id"])
    assert state == "running"


def test_ebs_refuses_asymmetric_and_hmac_keys(aws, ctl):
    kms, ec2 = aws.client("kms"), aws.client("ec2")
    for spec, usage in (("RSA_2048", "ENCRYPT_DECRYPT"), ("HMAC_256", "GENERATE_VERIFY_MAC")):
        key = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True, KmsKeyId=key["Arn"])
        snap = ec2.create_snapshot(VolumeId=v["VolumeId"])["SnapshotId"]
        wait_past_pending()
        ami = ec2.register_image(Name=f"asym-{spec}", RootDeviceName="/dev/xvda",
                                 BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}])[
            "ImageId"]
        wait_past_pending()
        iid, state, _ = launch_and_settle(ec2, ami)
        assert state == "terminated"
        d = [x for x in ctl.get("/decisions") if x["resource"] == iid][0]
        assert "EBS uses symmetric encryption keys only" in d["statement"]
    good = kms.create_key()["KeyMetadata"]  # the fix: a symmetric encryption key
    v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True, KmsKeyId=good["Arn"])
    snap = ec2.create_snapshot(VolumeId=v["VolumeId"])["SnapshotId"]
    wait_past_pending()
    ami = ec2.register_image(Name="sym", RootDeviceName="/dev/xvda",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}])["ImageId"]
    wait_past_pending()
    assert launch_and_settle(ec2, ami)[1] == "running"


def test_reset_forgets_organizations_completely(aws, ctl):
    o = aws.client("organizations", SRC)
    o.create_organization(FeatureSet="ALL")
    o.create_account(Email="m@example.com", AccountName="m", Tags=[{"Key": "emulator:account-id", "Value": TGT}])
    with pytest.raises(ClientError) as e:
        aws.client("organizations", TGT).create_organization(FeatureSet="ALL")
    assert e.value.response["Error"]["Code"] == "AlreadyInOrganizationException"
    ctl.post("/reset")
    aws.client("organizations", TGT).create_organization(FeatureSet="ALL")


def test_create_account_access_role_is_an_administrator(aws):
    o = aws.client("organizations", SRC)
    o.create_organization(FeatureSet="ALL")
    o.create_account(Email="m@example.com", AccountName="m", Tags=[{"Key": "emulator:account-id", "Value": TGT}])
    role = f"arn:aws:iam::{TGT}:role/OrganizationAccountAccessRole"
    iam = aws.client("iam", TGT)
    trust = iam.get_role(RoleName="OrganizationAccountAccessRole")["Role"]["AssumeRolePolicyDocument"]
    assert f"arn:aws:iam::{SRC}:root" in json.dumps(trust)
    assert iam.list_role_policies(RoleName="OrganizationAccountAccessRole")["PolicyNames"] == ["AdministratorAccess"]
    ec2 = aws.as_role("ec2", role)
    with pytest.raises(ClientError) as e:
        ec2.describe_images(Owners=["self"], DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    # without the policy the role can do nothing (the world moto alone built)
    iam.delete_role_policy(RoleName="OrganizationAccountAccessRole", PolicyName="AdministratorAccess")
    with pytest.raises(ClientError) as e:
        ec2.describe_images(Owners=["self"], DryRun=True)
    assert e.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_pending_import_key_is_unusable_until_material_is_imported(aws, ctl):
    kms, ec2 = aws.client("kms"), aws.client("ec2")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert key["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert e.value.response["Error"]["Code"] == "KMSInvalidStateException"
    assert e.value.response["Error"]["Message"] == f"{key['Arn']} is pending import."
    v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True)
    snap = ec2.create_snapshot(VolumeId=v["VolumeId"])["SnapshotId"]
    wait_past_pending()
    copy = ec2.copy_snapshot(SourceSnapshotId=snap, SourceRegion="us-east-1", Encrypted=True,
                             KmsKeyId=key["Arn"])["SnapshotId"]
    wait_past_pending()
    assert ec2.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]["State"] == "error"
    params = kms.get_parameters_for_import(KeyId=key["Arn"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    kms.import_key_material(KeyId=key["Arn"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=b"m" * 32,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["KeyId"] == key["Arn"]
    copy = ec2.copy_snapshot(SourceSnapshotId=snap, SourceRegion="us-east-1", Encrypted=True,
                             KmsKeyId=key["Arn"])["SnapshotId"]
    wait_past_pending()
    assert ec2.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]["State"] == "completed"
