"""Start/stop, reset, request log, latency, faults, pending-time controls."""

from __future__ import annotations

import os
import time

import botocore.exceptions
import pytest
import requests
from botocore.config import Config
from conftest import PENDING, SRC, TGT, start_server, stop_server


def test_start_prints_one_json_line_and_pid_is_the_server(server):
    assert server["endpoint"].startswith("http://127.0.0.1:")
    pid = server["pid"]
    cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    assert "amishare_emulator.server" in cmdline
    assert "shims" not in cmdline
    assert server["_start_seconds"] < 3.0


def test_start_on_given_port_and_kill_pid_stops_it():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    info = start_server("--port", str(port), "--latency-ms", "5", "--pending-seconds", "1.5")
    try:
        assert info["endpoint"] == f"http://127.0.0.1:{port}"
        cfg = requests.get(info["endpoint"] + "/_emulator/config", timeout=5).json()
        assert cfg == {"latency_ms": 5.0, "pending_seconds": 1.5}
    finally:
        stop_server(info["pid"])
    with pytest.raises(OSError):
        os.kill(info["pid"], 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(info["endpoint"] + "/_emulator/health", timeout=2)


def test_start_fails_with_one_line_reason_on_busy_port(server):
    import subprocess
    from conftest import EMU

    port = server["endpoint"].rsplit(":", 1)[1]
    out = subprocess.run([str(EMU / "start"), "--port", port], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert out.stdout == ""
    assert "emulator start failed" in out.stderr


def test_reset_is_fast_and_wipes_everything(aws, seed, ctl):
    s = seed(with_aws_managed=True, with_unencrypted=True, snapshots=3)
    ctl.post("/faults", {"type": "throttle", "action": "DescribeRegions", "rate": 0})
    t = time.perf_counter()
    r = ctl.post("/reset")
    elapsed = time.perf_counter() - t
    assert r["reset"] is True
    assert elapsed < 0.1, elapsed
    ec2 = aws.client("ec2", SRC)
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    with pytest.raises(botocore.exceptions.ClientError):
        ec2.describe_images(ImageIds=[s["ami_id"]])
    assert ctl.get("/faults") == []
    assert ctl.get("/decisions") == []
    assert [r["action"] for r in ctl.get("/requests")] == ["DescribeImages", "DescribeImages"]


def test_request_log_records_account_region_service_action_mutating(aws, ctl):
    ctl.delete("/requests")
    ec2 = aws.client("ec2", SRC, region="eu-west-1")
    ec2.describe_images(Owners=["self"])
    vol = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec2.create_snapshot(VolumeId=vol["VolumeId"], DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    aws.client("kms", TGT).list_keys()
    aws.client("sts", TGT).get_caller_identity()
    aws.client("iam", TGT).create_user(UserName="u1")
    log = ctl.get("/requests")
    got = [(r["account"], r["region"], r["service"], r["action"], r["mutating"]) for r in log]
    assert got == [
        (SRC, "eu-west-1", "ec2", "DescribeImages", False),
        (SRC, "eu-west-1", "ec2", "CreateVolume", True),
        (SRC, "eu-west-1", "ec2", "CreateSnapshot", False),  # DryRun: nothing mutates
        (TGT, "us-east-1", "kms", "ListKeys", False),
        (TGT, "us-east-1", "sts", "GetCallerIdentity", False),
        (TGT, "us-east-1", "iam", "CreateUser", True),
    ]
    assert log[2]["dry_run"] is True and log[2]["status"] == 412
    for r in log:
        assert isinstance(r["time"], float) and r["timestamp"].endswith("+00:00")
        assert r["seq"] > 0 and "principal" in r and "duration_ms" in r
    assert [r["action"] for r in ctl.get("/requests", mutating="true")] == ["CreateVolume", "CreateUser"]
    last = log[-1]["seq"]
    aws.client("ec2", SRC).describe_regions()
    assert [r["action"] for r in ctl.get("/requests", since=last)] == ["DescribeRegions"]
    ctl.delete("/requests")
    assert ctl.get("/requests") == []


def test_request_log_resolves_account_from_assumed_role_credentials(aws, ctl):
    ec2 = aws.as_role("ec2", f"arn:aws:iam::{TGT}:role/anything")
    ctl.delete("/requests")
    ec2.describe_instances()
    (r,) = ctl.get("/requests")
    assert r["account"] == TGT
    assert r["principal"] == f"arn:aws:sts::{TGT}:assumed-role/anything/test"


def test_injected_latency(aws, ctl):
    ec2 = aws.client("ec2")
    ec2.describe_regions()
    ctl.post("/latency", {"ms": 200})
    t = time.perf_counter()
    ec2.describe_regions()
    assert time.perf_counter() - t >= 0.2
    ctl.post("/config", {"latency_ms": 0})
    t = time.perf_counter()
    ec2.describe_regions()
    assert time.perf_counter() - t < 0.2


@pytest.mark.parametrize(
    "service,call,code,status",
    [
        ("ec2", lambda c: c.describe_regions(), "RequestLimitExceeded", 503),
        ("kms", lambda c: c.list_keys(), "ThrottlingException", 400),
        ("sts", lambda c: c.get_caller_identity(), "ThrottlingException", 400),
        ("iam", lambda c: c.list_users(), "ThrottlingException", 400),
        ("cloudtrail", lambda c: c.lookup_events(), "ThrottlingException", 400),
    ],
)
def test_throttling_fault_has_the_wire_shape_sdks_retry(aws, ctl, service, call, code, status):
    ctl.post("/faults", {"type": "throttle", "service": service, "count": 1})
    c = aws.client(service)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(c)
    err = e.value.response
    assert err["Error"]["Code"] == code
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

    ctx = RetryContext(attempt_number=1, operation_model=None, parsed_response=err,
                       http_response=None, caught_exception=None)
    assert ThrottledRetryableChecker().is_retryable(ctx)
    # with retries on, the SDK retries and succeeds (count=1 fault already used; add 2 more)
    ctl.post("/faults", {"type": "throttle", "service": service, "count": 2})
    c2 = aws.client(service, config=Config(retries={"max_attempts": 3, "mode": "standard"}))
    resp = call(c2)
    assert resp["ResponseMetadata"]["RetryAttempts"] == 2


def test_5xx_fault_for_one_action_with_count(aws, ctl):
    f = ctl.post("/faults", {"type": "5xx", "action": "DescribeImages", "count": 2})
    ec2 = aws.client("ec2")
    ec2.describe_regions()  # other actions unaffected
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec2.describe_images(Owners=["self"])
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert e.value.response["Error"]["Code"] == "InternalError"
    ec2.describe_images(Owners=["self"])
    faults = ctl.get("/faults")
    assert faults[0]["id"] == f["id"] and faults[0]["fired"] == 2
    kms = aws.client("kms")
    ctl.post("/faults", {"type": "5xx", "action": "kms:ListKeys", "count": 1})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.list_keys()
    assert e.value.response["Error"]["Code"] == "KMSInternalException"
    log = ctl.get("/requests", action="DescribeImages")
    assert [r["fault"] is not None for r in log] == [True, True, False]


def test_fault_rate_and_delete(aws, ctl):
    f = ctl.post("/faults", {"type": "throttle", "service": "ec2", "rate": 0.5})
    ec2 = aws.client("ec2")
    errors = 0
    for _ in range(60):
        try:
            ec2.describe_regions()
        except botocore.exceptions.ClientError:
            errors += 1
    assert 10 <= errors <= 50
    ctl.delete(f"/faults/{f['id']}")
    assert ctl.get("/faults") == []
    ec2.describe_regions()
    r = requests.post(ctl.ep + "/_emulator/faults", json={"type": "throttle", "rate": 2}, timeout=5)
    assert r.status_code == 400


def test_pending_seconds_control(aws, ctl, seed):
    s = seed()
    ec2 = aws.client("ec2")
    ctl.post("/pending", {"seconds": 0})
    r = ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)
    iid = r["Instances"][0]["InstanceId"]
    assert r["Instances"][0]["State"]["Name"] == "pending"
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"
    ctl.post("/pending", {"seconds": 30})
    iid2 = ec2.run_instances(ImageId=s["ami_id"], MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    time.sleep(PENDING + 0.2)
    state = ec2.describe_instances(InstanceIds=[iid2])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "pending"
    assert ctl.get("/config")["pending_seconds"] == 30
    ctl.post("/reset")
    assert ctl.get("/config")["pending_seconds"] == PENDING


def test_unknown_control_endpoint_is_404(ctl):
    r = requests.get(ctl.ep + "/_emulator/nope", timeout=5)
    assert r.status_code == 404
