"""Auto Scaling launches as its service-linked role (Auto Scaling user guide "Service-linked roles",
"Required AWS KMS key policy for use with encrypted volumes"; Knowledge Center "kms-launch-ec2-instance").

- A group's instances are launched by `AWSServiceRoleForAutoScaling` of the group's account (the
  session `arn:aws:sts::ACCT:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling`); its permissions
  hold no KMS action, so the key-use rule decides from the key policy and grants alone.
- CreateAutoScalingGroup creates that role when it is missing, as AWS does.
- DescribeScalingActivities lists one activity per launched instance: `InProgress` while it is
  pending, `Successful` once running, `Failed` with AWS's message when the launch failed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError

from .state import Caller, CallerKind, acting_as

SLR_NAME = "AWSServiceRoleForAutoScaling"
SLR_SERVICE = "autoscaling.amazonaws.com"
FAILED_MESSAGE = ("Instance became unhealthy while waiting for instance to be in InService state. "
                  "Termination Reason: Client.InternalError: Client error on launch")


def slr_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/aws-service-role/{SLR_SERVICE}/{SLR_NAME}"


def ensure_service_linked_role(account: str) -> None:
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    if not any(r.name == SLR_NAME for r in list(iam.roles.values())):
        iam.create_service_linked_role(SLR_SERVICE, "Default Service-Linked Role enables access to AWS Services "
                                                    "and Resources used or managed by Auto Scaling", "")


def slr_caller(account: str, region: str) -> Caller:
    return Caller(account=account, arn=f"arn:aws:sts::{account}:assumed-role/{SLR_NAME}/AutoScaling",
                  access_key="", kind=CallerKind.ASSUMED_ROLE, principal_id="AROAAUTOSCALING:AutoScaling",
                  role_arn=slr_arn(account), user_name=SLR_NAME, region=region)


_orig_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances


def replace_instances(self: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]) -> None:
    before = {s.instance.id for s in self.instance_states}
    ensure_service_linked_role(self.account_id)
    acts = self.__dict__.setdefault("_emu_activities", [])
    try:
        with acting_as(slr_caller(self.account_id, self.region)):
            _orig_replace(self, count_needed, propagated_tags)
    except EC2ClientError as e:  # EC2 refused the launch (e.g. an AMI Allowed AMIs does not allow)
        acts.append({"id": str(uuid.uuid4()), "instance": None, "start": datetime.now(timezone.utc),
                     "desired": self.desired_capacity,
                     "refused": f"{e.message if hasattr(e, 'message') else e}. Launching EC2 instance failed."})
        return
    for st in self.instance_states:
        if st.instance.id not in before:
            acts.append({"id": str(uuid.uuid4()), "instance": st.instance,
                         "start": datetime.now(timezone.utc), "desired": self.desired_capacity})


def _refused_activity(group: FakeAutoScalingGroup, a: dict[str, Any]) -> dict[str, Any]:
    return {"ActivityId": a["id"], "AutoScalingGroupName": group.name, "AutoScalingGroupARN": group.arn,
            "Description": "Launching a new EC2 instance.  Status Reason: " + a["refused"],
            "Cause": f"At {a['start'].strftime('%Y-%m-%dT%H:%M:%SZ')} an instance was started in response to a "
                     "difference between desired and actual capacity, increasing the capacity to "
                     f"{a['desired']}.",
            "StartTime": a["start"], "EndTime": a["start"], "StatusCode": "Failed", "Progress": 100,
            "StatusMessage": a["refused"], "Details": "{}"}


def _activity(group: FakeAutoScalingGroup, a: dict[str, Any]) -> dict[str, Any]:
    if a.get("refused"):
        return _refused_activity(group, a)
    inst = a["instance"]
    state = inst._state.name  # resolves a due transition
    reason = inst.state_reason
    failed = state in ("terminated", "shutting-down") and reason is not None and "Client error on launch" in (
        reason.message or "")
    code = "Failed" if failed else "Successful" if state == "running" else "InProgress"
    out = {"ActivityId": a["id"], "AutoScalingGroupName": group.name, "AutoScalingGroupARN": group.arn,
           "Description": f"Launching a new EC2 instance: {inst.id}" + (". Status Reason: " + FAILED_MESSAGE
                                                                          if failed else ""),
           "Cause": f"At {a['start'].strftime('%Y-%m-%dT%H:%M:%SZ')} an instance was started in response to a "
                    "difference between desired and actual capacity, increasing the capacity to "
                    f"{a['desired']}.",
           "StartTime": a["start"], "StatusCode": code, "Progress": 100 if code != "InProgress" else 30,
           "Details": "{}"}
    if code != "InProgress":
        out["EndTime"] = datetime.now(timezone.utc)
    if failed:
        out["StatusMessage"] = FAILED_MESSAGE
    return out


def describe_scaling_activities(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    ids = self._get_param("ActivityIds") or []
    out = []
    for g in list(self.autoscaling_backend.autoscaling_groups.values()):
        if name and g.name != name:
            continue
        for a in g.__dict__.get("_emu_activities", []):
            if not ids or a["id"] in ids:
                out.append(_activity(g, a))
    out.sort(key=lambda x: x["StartTime"], reverse=True)
    return ActionResult({"Activities": out})


def apply() -> None:
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_instances  # type: ignore[assignment]
    AutoScalingResponse.describe_scaling_activities = describe_scaling_activities  # type: ignore[assignment]
    _ = AutoScalingBackend  # the backend itself is unchanged
