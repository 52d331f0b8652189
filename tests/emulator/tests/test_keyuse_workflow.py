"""Key-use enforcement as AWS shows it: launches terminate with Client.InternalError, copies fail,
CloudTrail holds the CreateGrant AccessDenied event; KMS across accounts by key ARN."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest
from conftest import PENDING, REGION, SRC, TGT, wait_past_pending


def _state(ec2, iid):
    i = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return i["State"]["Name"], i.get("StateReason")


def _launch(ec2, ami):
    r = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    inst = r["Instances"][0]
    assert inst["State"]["Name"] == "pending"
    return inst["InstanceId"]


def test_launch_in_target_fails_when_key_policy_does_not_name_target(aws, seed, ctl):
    s = seed(share=True)
    b = aws.as_role("ec2", s["target_role_arn"], session="launcher")
    iid = _launch(b, s["ami_id"])
    assert _state(b, iid)[0] == "pending"
    wait_past_pending()
    state, reason = _state(b, iid)
    assert state == "terminated"
    assert reason == {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}
    # CloudTrail (target account, launch region): the denied CreateGrant
    ct = aws.as_role("cloudtrail", s["target_role_arn"])
    evs = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGrant"}])[
        "Events"]
    assert len(evs) == 1
    ev = evs[0]
    assert ev["EventSource"] == "kms.amazonaws.com" and ev["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::KMS::Key", "ResourceName": s["source_key_arn"]} in ev["Resources"]
    detail = json.loads(ev["CloudTrailEvent"])
    caller = f"arn:aws:sts::{TGT}:assumed-role/amishare-target/launcher"
    assert detail["errorCode"] == "AccessDenied"
    assert detail["errorMessage"] == (
        f"User: {caller} is not authorized to perform: kms:CreateGrant on resource: {s['source_key_arn']} "
        "because no resource-based policy allows the kms:CreateGrant action")
    assert detail["userIdentity"]["arn"] == caller and detail["userIdentity"]["accountId"] == TGT
    assert detail["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == s["target_role_arn"]
    assert detail["requestParameters"]["keyId"] == s["source_key_arn"]
    assert detail["requestParameters"]["granteePrincipal"].endswith(":aws:ec2-infrastructure")
    assert detail["awsRegion"] == REGION and detail["recipientAccountId"] == TGT
    assert detail["eventSource"] == "kms.amazonaws.com" and detail["eventName"] == "CreateGrant"
    # the source account's trail does not have it
    assert aws.client("cloudtrail", SRC).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGrant"}])["Events"] == []
    # and the decision log says why
    dec = [d for d in ctl.get("/decisions") if d["operation"] == "RunInstances"]
    assert dec and dec[-1]["allowed"] is False and dec[-1]["key"] == s["source_key_arn"]


def test_launch_succeeds_once_key_policy_names_target(aws, seed):
    s = seed(share=True, key_allows_target=True)
    b = aws.as_role("ec2", s["target_role_arn"])
    iid = _launch(b, s["ami_id"])
    b.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    state, reason = _state(b, iid)
    assert state == "running" and reason is None
    # launched volumes are encrypted with the target's default EBS key (source key only read)
    vols = b.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]
    tgt_ebs = aws.client("kms", TGT).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    assert vols and all(v["Encrypted"] and v["KmsKeyId"] == tgt_ebs for v in vols)
    # RunInstances is in the target's trail with the launching principal
    ct = aws.as_role("cloudtrail", s["target_role_arn"])
    evs = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": iid}])["Events"]
    assert [e["EventName"] for e in evs] == ["RunInstances"]
    d = json.loads(evs[0]["CloudTrailEvent"])
    assert d["userIdentity"]["arn"] == f"arn:aws:sts::{TGT}:assumed-role/amishare-target/test"
    assert "errorCode" not in d
    assert ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateGrant"}])[
        "Events"] == []


def test_launch_of_aws_managed_key_image_fails_in_target_but_works_in_source(aws, seed):
    s = seed(with_aws_managed=True)
    a = aws.client("ec2", SRC)
    a.modify_image_attribute(ImageId=s["aws_managed_ami_id"], LaunchPermission={"Add": [{"UserId": TGT}]})
    b = aws.as_role("ec2", s["target_role_arn"])
    bad = _launch(b, s["aws_managed_ami_id"])
    good = _launch(a, s["aws_managed_ami_id"])
    wait_past_pending()
    assert _state(b, bad)[0] == "terminated"
    assert _state(a, good)[0] == "running"


def test_unencrypted_image_launches_anywhere(aws, seed):
    s = seed(with_unencrypted=True, share=True)
    b = aws.as_role("ec2", s["target_role_arn"])
    iid = _launch(b, s["unencrypted_ami_id"])
    wait_past_pending()
    assert _state(b, iid)[0] == "running"


def test_same_account_key_without_root_statement(aws):
    """Same account: the rule applies too; root delegation counts as allow."""
    kms, ec2 = aws.client("kms"), aws.client("ec2")
    iam = aws.client("iam")
    iam.create_role(RoleName="Admin", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName="Admin", PolicyName="ec2", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}))
    admin = f"arn:aws:iam::{SRC}:role/Admin"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "admin only", "Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"}]}
    key = kms.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    v = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True, KmsKeyId=key["Arn"])
    snap = ec2.create_snapshot(VolumeId=v["VolumeId"])["SnapshotId"]
    wait_past_pending()
    ami = ec2.register_image(Name="noroot", RootDeviceName="/dev/xvda",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snap}}])[
        "ImageId"]
    wait_past_pending()
    as_admin = aws.as_role("ec2", admin)
    bad = _launch(ec2, ami)          # moto's default identity, not the Admin role
    good = _launch(as_admin, ami)
    wait_past_pending()
    assert _state(ec2, bad)[0] == "terminated"
    assert _state(as_admin, good)[0] == "running"


def test_copy_image_fails_when_source_key_not_usable(aws, seed, ctl):
    s = seed(share=True, with_target_key=True, snapshots=2)
    b = aws.as_role("ec2", s["target_role_arn"])
    new = b.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="will-fail", Encrypted=True,
                       KmsKeyId=s["target_key_arn"])["ImageId"]
    img = b.describe_images(ImageIds=[new])["Images"][0]
    assert img["State"] == "pending"
    with pytest.raises(botocore.exceptions.WaiterError):
        b.get_waiter("image_available").wait(ImageIds=[new], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    img = b.describe_images(ImageIds=[new])["Images"][0]
    assert img["State"] == "failed"
    assert img["StateReason"]["Code"] == "Client.InvalidKMSKey"
    assert img["StateReason"]["Message"] == f"Given key ID is not accessible: {s['source_key_arn']}"
    sids = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]]
    snaps = b.describe_snapshots(SnapshotIds=sids)["Snapshots"]
    assert {x["State"] for x in snaps} == {"error"}
    assert {x["StateMessage"] for x in snaps} == {"Given key ID is not accessible"}
    ct = aws.as_role("cloudtrail", s["target_role_arn"])
    names = [e["EventName"] for e in ct.lookup_events()["Events"]]
    assert names.count("CreateGrant") == 1 and "CopyImage" in names


def test_copy_snapshot_fails_when_source_key_not_usable(aws, seed):
    s = seed()
    a = aws.client("ec2", SRC)
    a.modify_snapshot_attribute(SnapshotId=s["snapshot_id"], CreateVolumePermission={"Add": [{"UserId": TGT}]})
    b = aws.as_role("ec2", s["target_role_arn"])
    sid = b.copy_snapshot(SourceSnapshotId=s["snapshot_id"], SourceRegion=REGION)["SnapshotId"]
    assert b.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]["State"] == "pending"
    wait_past_pending()
    x = b.describe_snapshots(SnapshotIds=[sid])["Snapshots"][0]
    assert x["State"] == "error" and x["StateMessage"] == "Given key ID is not accessible"


def test_fixing_the_key_policy_makes_the_next_launch_work(aws, seed):
    s = seed(share=True)
    a_kms = aws.client("kms", SRC)
    b = aws.as_role("ec2", s["target_role_arn"])
    first = _launch(b, s["ami_id"])
    pol = json.loads(a_kms.get_key_policy(KeyId=s["source_key_id"], PolicyName="default")["Policy"])
    for st in pol["Statement"]:
        if st.get("Sid") in ("Allow use of the key", "Allow attachment of persistent resources"):
            cur = st["Principal"]["AWS"]
            st["Principal"]["AWS"] = (cur if isinstance(cur, list) else [cur]) + [f"arn:aws:iam::{TGT}:root"]
    a_kms.put_key_policy(KeyId=s["source_key_id"], PolicyName="default", Policy=json.dumps(pol))
    second = _launch(b, s["ami_id"])
    wait_past_pending()
    assert _state(b, first)[0] == "terminated"
    assert _state(b, second)[0] == "running"


def test_image_must_be_available_to_launch(aws, seed):
    s = seed()
    a = aws.client("ec2", SRC)
    copy = a.copy_image(SourceImageId=s["ami_id"], SourceRegion=REGION, Name="pending-copy")["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        a.run_instances(ImageId=copy, MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.Unavailable"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        aws.client("ec2", TGT).run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)
    assert e.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


# ----------------------------------------------------------------------------- KMS across accounts
def test_kms_key_reachable_by_arn_subject_to_key_policy(aws, seed):
    s = seed()
    b = aws.as_role("kms", s["target_role_arn"])
    for call in (lambda: b.describe_key(KeyId=s["source_key_arn"]),
                 lambda: b.list_grants(KeyId=s["source_key_arn"]),
                 lambda: b.create_grant(KeyId=s["source_key_arn"], GranteePrincipal=s["target_role_arn"],
                                        Operations=["Decrypt"])):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "because no resource-based policy allows" in e.value.response["Error"]["Message"]
    # key id or alias alone never reaches another account
    with pytest.raises(botocore.exceptions.ClientError) as e:
        b.describe_key(KeyId=s["source_key_id"])
    assert e.value.response["Error"]["Code"] == "NotFoundException"

    s2 = seed(key_allows_target=True, name_prefix="second")
    md = b.describe_key(KeyId=s2["source_key_arn"])["KeyMetadata"]
    assert md["AWSAccountId"] == SRC and md["KeyManager"] == "CUSTOMER" and md["Arn"] == s2["source_key_arn"]
    # CreateGrant directly (not via EC2): the key-user statement carries GrantIsForAWSResource, so denied
    with pytest.raises(botocore.exceptions.ClientError):
        b.create_grant(KeyId=s2["source_key_arn"], GranteePrincipal=s["target_role_arn"], Operations=["Decrypt"])
    # ... unless the key policy allows CreateGrant without that condition
    a = aws.client("kms", SRC)
    pol = json.loads(a.get_key_policy(KeyId=s2["source_key_id"], PolicyName="default")["Policy"])
    pol["Statement"].append({"Sid": "asg grants", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TGT}:root"},
                             "Action": ["kms:CreateGrant", "kms:ListGrants"], "Resource": "*"})
    a.put_key_policy(KeyId=s2["source_key_id"], PolicyName="default", Policy=json.dumps(pol))
    g = b.create_grant(KeyId=s2["source_key_arn"], GranteePrincipal=s["target_role_arn"], Operations=["Decrypt"])
    grants = b.list_grants(KeyId=s2["source_key_arn"])["Grants"]
    assert [x["GrantId"] for x in grants] == [g["GrantId"]]
    assert a.list_grants(KeyId=s2["source_key_id"])["Grants"][0]["GranteePrincipal"] == s["target_role_arn"]
    # owner-only operations
    for call in (lambda: b.get_key_policy(KeyId=s2["source_key_arn"], PolicyName="default"),
                 lambda: b.put_key_policy(KeyId=s2["source_key_arn"], PolicyName="default", Policy="{}"),
                 lambda: b.disable_key(KeyId=s2["source_key_arn"])):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_aws_managed_key_not_reachable_from_other_account(aws):
    arn = aws.client("kms", SRC).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        aws.client("kms", TGT).describe_key(KeyId=arn)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_put_key_policy_validation(aws):
    kms = aws.client("kms")
    key = kms.create_key()["KeyMetadata"]

    def put(policy, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy, **kw)
        return e.value.response["Error"]

    assert put("{not json")["Code"] == "MalformedPolicyDocumentException"
    lockout = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{TGT}:root"},
                                         "Action": "kms:*", "Resource": "*"}]})
    err = put(lockout)
    assert err["Code"] == "MalformedPolicyDocumentException"
    assert "will not allow you to update the key policy" in err["Message"]
    ghost = json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SRC}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SRC}:role/DoesNotExist"},
         "Action": "kms:Decrypt", "Resource": "*"}]})
    assert "invalid principals" in put(ghost)["Message"]
    assert put("x" * 40000)["Code"] == "LimitExceededException"
    good = json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": SRC},
                                                             "Action": "kms:*", "Resource": "*"}})
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=good)
    assert kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == good
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == good  # PolicyName optional
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.create_key(Policy="[")
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"


def test_lookup_events_paging_time_range_and_attributes(aws, seed):
    s = seed(share=True, with_unencrypted=True)
    b = aws.as_role("ec2", s["target_role_arn"])
    t0 = time.time()
    for _ in range(3):
        _launch(b, s["ami_id"])       # each: RunInstances + denied CreateGrant
    ct = aws.as_role("cloudtrail", s["target_role_arn"])
    all_events = ct.lookup_events()["Events"]
    assert len(all_events) == 6
    times = [e["EventTime"].timestamp() for e in all_events]
    assert times == sorted(times, reverse=True)  # newest first
    page1 = ct.lookup_events(MaxResults=4)
    assert len(page1["Events"]) == 4 and "NextToken" in page1
    page2 = ct.lookup_events(MaxResults=4, NextToken=page1["NextToken"])
    assert len(page2["Events"]) == 2 and "NextToken" not in page2
    ids = [e["EventId"] for e in page1["Events"] + page2["Events"]]
    assert len(set(ids)) == 6
    paginated = [e for p in ct.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 5})
                 for e in p["Events"]]
    assert len(paginated) == 6
    for key, val, n in (("EventSource", "kms.amazonaws.com", 3), ("EventSource", "ec2.amazonaws.com", 3),
                        ("Username", "test", 6), ("ReadOnly", "false", 6), ("ReadOnly", "true", 0),
                        ("ResourceName", s["source_key_arn"], 3)):
        got = ct.lookup_events(LookupAttributes=[{"AttributeKey": key, "AttributeValue": val}])["Events"]
        assert len(got) == n, (key, val)
    access_key = all_events[0]["AccessKeyId"]
    assert len(ct.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId",
                                                   "AttributeValue": access_key}])["Events"]) == 6
    assert ct.lookup_events(StartTime=t0 + 3600)["Events"] == []
    assert len(ct.lookup_events(StartTime=t0 - 5, EndTime=t0 + 3600)["Events"]) == 6
    assert ct.lookup_events(EndTime=t0 - 5)["Events"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "a"},
                                           {"AttributeKey": "Username", "AttributeValue": "b"}])
    assert e.value.response["Error"]["Code"] == "InvalidLookupAttributesException"
    # other region: nothing
    assert aws.as_role("cloudtrail", s["target_role_arn"], region="eu-west-1").lookup_events()["Events"] == []
