"""The copy's lifecycle calls the emulator adds to moto: deprecation, deregistration protection (and
its 24-hour cooldown), time-based copies, and SSM parameters of data type aws:ec2:image (validated
as AWS does: asynchronously, a bad value silently not written). Request and response shapes follow
the EC2 and SSM API references (botocore's models check them here)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest
import requests
from conftest import REGION, SRC, TGT, wait_past_pending


def _err(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


def _image(ec2, ami):
    return ec2.describe_images(ImageIds=[ami])["Images"][0]


def test_deprecation_is_set_rounded_shown_and_disabled(aws, seed):
    s = seed()
    wait_past_pending()
    ec2 = aws.client("ec2", SRC)
    assert "DeprecationTime" not in _image(ec2, s["ami_id"])
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=30, seconds=0)
    at = at.replace(second=40)
    assert ec2.enable_image_deprecation(ImageId=s["ami_id"], DeprecateAt=at)["Return"] is True
    shown = _image(ec2, s["ami_id"])["DeprecationTime"]
    expected = (at + timedelta(seconds=20)).replace(second=0)  # rounded to the nearest minute
    assert shown == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert ec2.disable_image_deprecation(ImageId=s["ami_id"])["Return"] is True
    assert "DeprecationTime" not in _image(ec2, s["ami_id"])


def test_deprecation_refuses_the_past_more_than_ten_years_and_other_owners(aws, seed):
    s = seed(share=True)
    wait_past_pending()
    ec2 = aws.client("ec2", SRC)
    now = datetime.now(timezone.utc)
    for bad in (now - timedelta(days=1), now + timedelta(days=3660)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.enable_image_deprecation(ImageId=s["ami_id"], DeprecateAt=bad)
        assert _err(e) == "InvalidParameterValue"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        aws.client("ec2", TGT).enable_image_deprecation(ImageId=s["ami_id"], DeprecateAt=now + timedelta(days=1))
    assert _err(e) == "AuthFailure"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.enable_image_deprecation(ImageId="ami-0123456789abcdef0", DeprecateAt=now + timedelta(days=1))
    assert _err(e) == "InvalidAMIID.NotFound"


def test_protection_blocks_deregistration_until_disabled(aws, seed):
    s = seed()
    wait_past_pending()
    ec2 = aws.client("ec2", SRC)
    assert _image(ec2, s["ami_id"])["DeregistrationProtection"] == "disabled"
    ec2.enable_image_deregistration_protection(ImageId=s["ami_id"])
    assert _image(ec2, s["ami_id"])["DeregistrationProtection"] == "enabled-without-cooldown"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.deregister_image(ImageId=s["ami_id"])
    assert _err(e) == "OperationNotPermitted"
    ec2.disable_image_deregistration_protection(ImageId=s["ami_id"])
    assert _image(ec2, s["ami_id"])["DeregistrationProtection"] == "disabled"
    ec2.deregister_image(ImageId=s["ami_id"])


def test_protection_with_cooldown_lasts_24_hours_after_disabling(aws, seed, endpoint):
    s = seed()
    wait_past_pending()
    ec2 = aws.client("ec2", SRC)
    ec2.enable_image_deregistration_protection(ImageId=s["ami_id"], WithCooldown=True)
    assert _image(ec2, s["ami_id"])["DeregistrationProtection"] == "enabled-with-cooldown"
    ec2.disable_image_deregistration_protection(ImageId=s["ami_id"])
    shown = _image(ec2, s["ami_id"])["DeregistrationProtection"]
    assert shown.startswith("disabled-until ")
    until = datetime.strptime(shown.split(" ", 1)[1], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=timezone.utc)
    assert abs((until - datetime.now(timezone.utc)) - timedelta(hours=24)) < timedelta(minutes=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.deregister_image(ImageId=s["ami_id"])
    assert _err(e) == "OperationNotPermitted"
    r = requests.post(f"{endpoint}/_emulator/cooldown/{s['ami_id']}", timeout=10)
    assert r.status_code == 200 and r.json()["cooldown_ended"] is True
    assert _image(ec2, s["ami_id"])["DeregistrationProtection"] == "disabled"
    ec2.deregister_image(ImageId=s["ami_id"])


def test_only_the_owner_protects(aws, seed):
    s = seed(share=True)
    wait_past_pending()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        aws.client("ec2", TGT).enable_image_deregistration_protection(ImageId=s["ami_id"])
    assert _err(e) == "AuthFailure"


def test_time_based_copy_checks_the_duration_and_marks_the_snapshots(aws, seed):
    s = seed()
    wait_past_pending()
    ec2 = aws.client("ec2", SRC)
    for bad in (10, 20, 2895):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name=f"bad-{bad}",
                           SnapshotCopyCompletionDurationMinutes=bad)
        assert _err(e) == "InvalidParameterValue"
    new = ec2.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="timed",
                         SnapshotCopyCompletionDurationMinutes=60)["ImageId"]
    snaps = [m["Ebs"]["SnapshotId"] for m in _image(ec2, new)["BlockDeviceMappings"] if "Ebs" in m]
    assert snaps
    for snap in ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"]:
        assert snap["TransferType"] == "time-based" and snap["CompletionDurationMinutes"] == 60


def test_image_parameter_is_written_only_for_an_available_ami_of_the_account(aws, seed, endpoint):
    s = seed(share=True)
    wait_past_pending()
    ssm_src, ssm_tgt = aws.client("ssm", SRC), aws.client("ssm", TGT)
    out = ssm_src.put_parameter(Name="/images/web", Value=s["ami_id"], Type="String",
                                DataType="aws:ec2:image", Overwrite=True)
    assert out["Version"] == 1
    p = ssm_src.get_parameter(Name="/images/web")["Parameter"]
    assert (p["Value"], p["DataType"], p["Type"]) == (s["ami_id"], "aws:ec2:image", "String")
    # a shared AMI is available to the target account too
    ssm_tgt.put_parameter(Name="/images/web", Value=s["ami_id"], Type="String", DataType="aws:ec2:image")
    assert ssm_tgt.get_parameter(Name="/images/web")["Parameter"]["Value"] == s["ami_id"]
    # not an AMI of the account, or not an AMI id at all: 200, and nothing written
    for bad in ("ami-0123456789abcdef0", "not-an-ami"):
        out = ssm_src.put_parameter(Name="/images/web", Value=bad, Type="String", DataType="aws:ec2:image",
                                    Overwrite=True)
        assert out["Version"] == 2
        assert ssm_src.get_parameter(Name="/images/web")["Parameter"]["Value"] == s["ami_id"]
    ssm_src.put_parameter(Name="/images/new", Value="ami-0123456789abcdef0", Type="String",
                          DataType="aws:ec2:image")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm_src.get_parameter(Name="/images/new")
    assert _err(e) == "ParameterNotFound"
    rejected = requests.get(f"{endpoint}/_emulator/ssm/rejected", timeout=10).json()
    assert [r["value"] for r in rejected] == ["ami-0123456789abcdef0", "not-an-ami", "ami-0123456789abcdef0"]
    # text parameters are not checked
    ssm_src.put_parameter(Name="/images/note", Value="anything", Type="String")
    assert ssm_src.get_parameter(Name="/images/note")["Parameter"]["DataType"] == "text"


def test_image_parameter_of_another_region_is_not_written(aws, seed):
    s = seed()
    wait_past_pending()
    ssm = aws.client("ssm", SRC, region="eu-west-1")
    ssm.put_parameter(Name="/images/web", Value=s["ami_id"], Type="String", DataType="aws:ec2:image")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssm.get_parameter(Name="/images/web")
    assert _err(e) == "ParameterNotFound"
