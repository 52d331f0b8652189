"""IAM on every API action the emulator serves (moto's own auth enforcement stays off).

For each EC2, Auto Scaling, IAM, STS, KMS, SSM, Organizations and CloudTrail request the caller's
`<service>:<Action>` is decided on the resources the request names, the way AWS does (IAM user
guide "Policy evaluation logic"): an explicit Deny in an identity policy, SCP, permissions boundary
or session policy denies; else the SCPs (every level), the identity policies, the boundary and
the session policies must all allow. Callers with no IAM entity (see identity.py) are the
account's administrators: their identity policies allow everything, but SCPs and session
policies still restrict them.

Not decided here: KMS calls on a key (kms_patches authorises them with the key policy and grants),
sts:AssumeRole (sts_trust.py, which adds the trust policy), sts:GetCallerIdentity (AWS: "No
permissions are required").

Answers (EC2 API reference "Error codes"; IAM user guide "Troubleshoot access denied error
messages"):
- EC2: HTTP 403 `UnauthorizedOperation`, "You are not authorized to perform this operation. User:
  ARN is not authorized to perform: ec2:ACTION on resource: RES because no identity-based policy
  allows the ec2:ACTION action. Encoded authorization failure message: TOKEN"; the token is
  decoded by sts:DecodeAuthorizationMessage (handled here). DryRun=true: the same 403 when denied,
  else `DryRunOperation` (HTTP 412, "Request would have succeeded, but DryRun flag is set.").
- IAM, STS, Auto Scaling (query): HTTP 403 `AccessDenied` with "User: ARN is not authorized to
  perform: ACTION on resource: RES because ...".
- KMS, SSM, CloudTrail (JSON): HTTP 400 `AccessDeniedException`, same wording; Organizations:
  `AccessDeniedException` "You don't have permissions to access this resource.".
A denial is recorded in the decision log (`layer`, policy, statement) and in CloudTrail of the
caller's account (errorCode `Client.UnauthorizedOperation` for EC2, else `AccessDenied`).

Pages: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
"""

from __future__ import annotations

import base64
import inspect
import json
import re
import secrets
import uuid
from typing import Any
from xml.sax.saxutils import escape

from .. import cloudtrail, identity
from ..state import Caller, record_decision
from . import BOUNDARY, IDENTITY, SCP, SESSION, principal_layers, wording

JSON_ERROR_STATUS = 400
# AssumeRoleWith*: authenticated by the token, no caller identity to authorise (STS API reference)
FREE_ACTIONS = {"sts:GetCallerIdentity", "sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"}
DRYRUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."
ORG_DENIED = "You don't have permissions to access this resource."
_DECODABLE: dict[str, dict[str, Any]] = {}  # token -> decoded authorization message


def reset() -> None:
    _DECODABLE.clear()


# ----------------------------------------------------------------------------- request facts
def _first(params: dict[str, Any], *names: str) -> str | None:
    for n in names:
        v = params.get(n)
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, str) and v:
            return v
    return None


def _numbered(params: dict[str, Any], prefix: str) -> list[str]:
    """Values of `Prefix.N` query parameters (`InstanceId.1`, ...)."""
    out = []
    for k, v in params.items():
        if re.fullmatch(re.escape(prefix) + r"\.\d+", k):
            out.extend(x for x in (v if isinstance(v, list) else [v]) if isinstance(x, str))
    return out


def ec2_resources(action: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    """The resource ARNs AWS authorises an EC2 action on (Service Authorization Reference, Amazon
    EC2: resource types per action), as far as the request names them; `*` for actions without
    resource-level permissions (Describe*, ...)."""
    part = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    base = f"arn:{part}:ec2:{region}"
    image = _first(params, "ImageId")
    if action == "RunInstances":
        return ([f"{base}::image/{image}"] if image else []) + [f"{base}:{account}:instance/*"]
    if action == "CopyImage":
        return [f"{base}::image/*"]
    if action == "CopySnapshot":
        return [f"{base}::snapshot/*"]
    if image:
        return [f"{base}::image/{image}"]
    snap = _first(params, "SnapshotId")
    if snap:
        return [f"{base}::snapshot/{snap}"]
    inst = _numbered(params, "InstanceId") or ([_first(params, "InstanceId")] if _first(params, "InstanceId") else [])
    if inst and not action.startswith("Describe"):
        return [f"{base}:{account}:instance/{i}" for i in inst]
    vol = _first(params, "VolumeId")
    if vol:
        return [f"{base}:{account}:volume/{vol}"]
    return ["*"]


def resources_of(service: str, action: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    part = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    if service == "ec2":
        return ec2_resources(action, params, account, region)
    if service == "iam":
        for name, kind in (("RoleName", "role"), ("UserName", "user"), ("GroupName", "group"),
                           ("InstanceProfileName", "instance-profile")):
            v = _first(params, name)
            if v:
                return [f"arn:{part}:iam::{account}:{kind}/{v}"]
        pol = _first(params, "PolicyArn")
        return [pol] if pol else ["*"]
    if service == "ssm":
        name = _first(params, "Name")
        return [f"arn:{part}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"] if name else ["*"]
    if service == "kms":
        key = _first(params, "KeyId", "TargetKeyId")
        if key and key.startswith("arn:"):
            return [key]
        if key and not key.startswith("alias/"):
            return [f"arn:{part}:kms:{region}:{account}:key/{key}"]
        return ["*"]
    if service == "autoscaling":
        group = _first(params, "AutoScalingGroupName")
        if group:
            return [f"arn:{part}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{group}"]
    return ["*"]


def _kms_key_op(action: str) -> bool:
    """Is this KMS action authorised by kms_patches (key policy + grants)?"""
    from .. import kms_patches

    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
    # RetireGrant: the grant's retiring principal needs no IAM permission (kms_grants decides)
    return snake in kms_patches.CROSS_ACCOUNT_OPS or snake in kms_patches.OWNER_ONLY_OPS or snake == "retire_grant"


# ----------------------------------------------------------------------------- the decision
def decide(p: identity.Principal, action: str, resources: list[str], ctx: dict[str, Any]) -> dict[str, Any]:
    """{"allowed", "layer", "where", "missing", "resource"} for `action` on every resource."""
    for res in resources:
        idv = identity.evaluate_identity(p, action, res, ctx, False)
        layers = principal_layers(p, action, res, ctx, False)
        deny = next((lv for lv in layers if lv.effect == "Deny"), None)
        if idv.effect == "Deny":
            return {"allowed": False, "layer": IDENTITY, "where": idv.statement,
                    "missing": f"explicit deny in {IDENTITY}", "resource": res}
        if deny is not None:
            return {"allowed": False, "layer": deny.layer, "where": deny.where,
                    "missing": f"explicit deny in {deny.layer}", "resource": res}
        scp = next((lv for lv in layers if lv.layer == SCP and lv.effect is None), None)
        if scp is not None:
            return {"allowed": False, "layer": SCP, "where": scp.where, "missing": SCP, "resource": res}
        if idv.effect != "Allow":
            return {"allowed": False, "layer": IDENTITY, "where": "", "missing": IDENTITY, "resource": res}
        cap = next((lv for lv in layers if lv.layer in (BOUNDARY, SESSION) and lv.effect is None), None)
        if cap is not None:
            return {"allowed": False, "layer": cap.layer, "where": cap.where, "missing": cap.layer, "resource": res}
    return {"allowed": True, "layer": IDENTITY, "where": "", "resource": resources[-1] if resources else "*"}


def _needs_check(p: identity.Principal) -> bool:
    from .scp import applies_to

    if not p.unrestricted or p.session:
        return True
    return applies_to(p.account, p.principal_arn) is not None


def request_context(p: identity.Principal, caller: Caller, region: str,
                    params: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = identity.principal_context(p)
    ctx.update({"aws:viaawsservice": "false", "aws:sourceip": caller.source_ip, "aws:requestedregion": region})
    service_name = _first(params or {}, "AWSServiceName")
    if service_name:  # iam:CreateServiceLinkedRole (IAM condition key iam:AWSServiceName)
        ctx["iam:awsservicename"] = service_name
    return ctx


# ----------------------------------------------------------------------------- answers
def _error(service: str, json_protocol: bool, code: str, status: int, msg: str) -> tuple[int, list, bytes]:
    rid = str(uuid.uuid4())
    hdrs: list[tuple[str, str]] = [("x-amzn-RequestId", rid)]
    if service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{escape(msg)}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        hdrs.append(("Content-Type", "text/xml;charset=UTF-8"))
    elif json_protocol:
        body = json.dumps({"__type": code, "message": msg, "Message": msg}).encode()
        hdrs += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    else:
        body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{escape(msg)}</Message></Error><RequestId>{rid}</RequestId>"
                "</ErrorResponse>").encode()
        hdrs.append(("Content-Type", "text/xml"))
    hdrs.append(("Content-Length", str(len(body))))
    return status, hdrs, body


def _encoded(caller: Caller, action: str, d: dict[str, Any], ctx: dict[str, Any]) -> str:
    token = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
    _DECODABLE[token] = {
        "allowed": False, "explicitDeny": d["missing"].startswith("explicit deny"),
        "matchedStatements": {"items": ([{"statementId": d["where"]}] if d.get("where") else [])},
        "failures": {"items": []},
        "context": {"principal": {"id": caller.principal_id, "arn": caller.arn}, "action": action,
                    "resource": d["resource"],
                    "conditions": {"items": [{"key": k, "values": {"items": [{"value": str(v)}]}}
                                             for k, v in sorted(ctx.items()) if not k.startswith("emulator:")]}},
    }
    return token


def denial(service: str, json_protocol: bool, caller: Caller, action: str, d: dict[str, Any],
           ctx: dict[str, Any]) -> tuple[int, list, bytes, str, str]:
    """(status, headers, body, errorCode for CloudTrail, message)."""
    msg = (f"User: {caller.arn} is not authorized to perform: {action} on resource: {d['resource']} "
           f"{wording(d['missing'], action)}")
    if service == "ec2":
        full = (f"You are not authorized to perform this operation. {msg}. Encoded authorization failure "
                f"message: {_encoded(caller, action, d, ctx)}")
        return (*_error(service, False, "UnauthorizedOperation", 403, full), "Client.UnauthorizedOperation", full)
    if service == "organizations":
        return (*_error(service, True, "AccessDeniedException", JSON_ERROR_STATUS, ORG_DENIED),
                "AccessDeniedException", ORG_DENIED)
    if json_protocol:
        return (*_error(service, True, "AccessDeniedException", JSON_ERROR_STATUS, msg), "AccessDeniedException", msg)
    return (*_error(service, False, "AccessDenied", 403, msg), "AccessDenied", msg)


def _resource_type(arn: str) -> str:
    """CloudTrail's resource type (`AWS::EC2::Image`, ...) of an ARN."""
    parts = arn.split(":")
    if len(parts) < 6:
        return "AWS::Resource"
    kind = re.split(r"[/:]", parts[5])[0]
    names = {"image": "Ami", "instance": "Instance", "snapshot": "Snapshot", "volume": "Volume", "key": "Key",
             "role": "Role", "user": "User", "parameter": "Parameter", "autoScalingGroup": "AutoScalingGroup"}
    return f"AWS::{parts[2].upper() if parts[2] != 'autoscaling' else 'AutoScaling'}::{names.get(kind, kind)}"


def dry_run_ok() -> tuple[int, list, bytes]:
    return _error("ec2", False, "DryRunOperation", 412, DRYRUN_MESSAGE)


_DRYRUN_AWARE: dict[str, bool] = {}


def moto_handles_dry_run(action: str) -> bool:
    """Does moto's (or the emulator's) EC2 response for `action` answer DryRun itself?"""
    if action not in _DRYRUN_AWARE:
        from moto.ec2.responses import EC2Response

        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        fn = getattr(EC2Response, snake, None)
        try:
            src = inspect.getsource(fn) if fn is not None else ""
        except (OSError, TypeError):
            src = ""
        _DRYRUN_AWARE[action] = "dryrun" in src.lower().replace("_", "")
    return _DRYRUN_AWARE[action]


def decode_authorization_message(params: dict[str, Any]) -> tuple[int, list, bytes]:
    token = _first(params, "EncodedMessage") or ""
    decoded = _DECODABLE.get(token)
    if decoded is None:
        return _error("sts", False, "InvalidAuthorizationMessageException", 400,
                      "The encoded authorization message is invalid or was not issued by this emulator.")
    rid = str(uuid.uuid4())
    body = ('<DecodeAuthorizationMessageResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<DecodeAuthorizationMessageResult><DecodedMessage>{escape(json.dumps(decoded))}</DecodedMessage>"
            f"</DecodeAuthorizationMessageResult><ResponseMetadata><RequestId>{rid}</RequestId>"
            "</ResponseMetadata></DecodeAuthorizationMessageResponse>").encode()
    return 200, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body


# ----------------------------------------------------------------------------- the hook
def check(service: str, action: str, params: dict[str, Any], caller: Caller | None, region: str,
          json_protocol: bool, dry_run: bool) -> tuple[int, list, bytes] | None:
    """A response to send instead of moto's (a denial, a DryRun answer, a decoded message), or None."""
    if caller is None or not action or not service:
        return None
    iam_action = f"{service}:{action}"
    if iam_action in FREE_ACTIONS or (service == "kms" and _kms_key_op(action)
                                      and (params.get("KeyId") or action == "RetireGrant")):
        return None
    p = identity.resolve(caller.arn, caller.account)
    if _needs_check(p):
        ctx = request_context(p, caller, region, params)
        d = decide(p, iam_action, resources_of(service, action, params, caller.account, region), ctx)
        if not d["allowed"]:
            status, hdrs, body, code, msg = denial(service, json_protocol, caller, iam_action, d, ctx)
            record_decision({"operation": iam_action, "api_call": True, "caller": caller.arn,
                             "caller_account": caller.account, "resource": d["resource"], "allowed": False,
                             "decided_by": d["layer"], "statement": d["where"], "missing_source": d["missing"],
                             "message": msg})
            cloudtrail.record(account=caller.account, region=region, caller=caller,
                              event_source=f"{service}.amazonaws.com", event_name=action,
                              read_only=action.startswith(("Describe", "Get", "List")),
                              request_parameters=None, error_code=code, error_message=msg,
                              resources=[] if d["resource"] == "*" else
                              [{"ResourceType": _resource_type(d["resource"]), "ResourceName": d["resource"]}])
            return status, hdrs, body
    if service == "sts" and action == "DecodeAuthorizationMessage":
        return decode_authorization_message(params)
    if service == "ec2" and dry_run and not moto_handles_dry_run(action):
        return dry_run_ok()
    return None
