"""A CloudTrail event history (per account and region) and the LookupEvents API (JSON 1.1)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from . import principal
from .state import Caller, now

_LOCK = threading.RLock()
# (account, region) -> list of event records (oldest first)
EVENTS: dict[tuple[str, str], list[dict[str, Any]]] = {}


def reset() -> None:
    with _LOCK:
        EVENTS.clear()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(
    *,
    account: str,
    region: str,
    caller: Caller,
    event_source: str,
    event_name: str,
    read_only: bool,
    request_parameters: dict[str, Any] | None = None,
    response_elements: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    resources: list[dict[str, str]] | None = None,
    invoked_by: str | None = None,
    event_time: float | None = None,
) -> dict[str, Any]:
    t = event_time if event_time is not None else now()
    event_id = str(uuid.uuid4())
    ui = principal.user_identity(caller)
    if invoked_by:
        ui["invokedBy"] = invoked_by
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": ui,
        "eventTime": _iso(t),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": invoked_by or caller.source_ip,
        "userAgent": invoked_by or caller.user_agent,
        "requestParameters": request_parameters,
        "responseElements": response_elements,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error_code:
        detail["errorCode"] = error_code
        detail["errorMessage"] = error_message or ""
    if resources:
        detail["resources"] = [
            {"ARN": r["ResourceName"], "accountId": r.get("accountId", account), "type": r["ResourceType"]}
            for r in resources
            if r.get("ResourceName", "").startswith("arn:")
        ]
    ev = {
        "EventId": event_id,
        "EventName": event_name,
        "ReadOnly": "true" if read_only else "false",
        "AccessKeyId": caller.access_key,
        "EventTime": t,
        "EventSource": event_source,
        "Username": principal.username(caller),
        "Resources": resources or [],
        "CloudTrailEvent": json.dumps(detail),
    }
    with _LOCK:
        EVENTS.setdefault((account, region), []).append(ev)
    return ev


class LookupError_(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_ATTRS = {"EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
          "EventSource", "AccessKeyId"}


def _to_epoch(v: Any) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v)
    try:
        return float(s)
    except ValueError:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def lookup_events(account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
    attrs = params.get("LookupAttributes") or []
    if len(attrs) > 1:
        raise LookupError_("InvalidLookupAttributesException", "You can only specify one lookup attribute.")
    max_results = int(params.get("MaxResults") or 50)
    if max_results < 1 or max_results > 50:
        raise LookupError_("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
    start = _to_epoch(params["StartTime"]) if params.get("StartTime") is not None else None
    end = _to_epoch(params["EndTime"]) if params.get("EndTime") is not None else None
    if start is not None and end is not None and start > end:
        raise LookupError_("InvalidTimeRangeException", "StartTime must be before EndTime.")
    with _LOCK:
        events = list(reversed(EVENTS.get((account, region), [])))  # newest first
    if start is not None:
        events = [e for e in events if e["EventTime"] >= start]
    if end is not None:
        events = [e for e in events if e["EventTime"] <= end]
    for a in attrs:
        key, val = a.get("AttributeKey"), a.get("AttributeValue")
        if key not in _ATTRS:
            raise LookupError_("InvalidLookupAttributesException", f"Invalid attribute key {key}")
        if key == "ResourceName":
            events = [e for e in events if any(r.get("ResourceName") == val for r in e["Resources"])]
        elif key == "ResourceType":
            events = [e for e in events if any(r.get("ResourceType") == val for r in e["Resources"])]
        else:
            events = [e for e in events if str(e.get(key)) == str(val)]
    offset = 0
    token = params.get("NextToken")
    if token:
        try:
            offset = int(base64.b64decode(token).decode().split(":", 1)[1])
        except Exception:
            raise LookupError_("InvalidNextTokenException", "Invalid NextToken")
    page = events[offset : offset + max_results]
    out: dict[str, Any] = {"Events": page}
    if offset + max_results < len(events):
        out["NextToken"] = base64.b64encode(f"v1:{offset + max_results}".encode()).decode()
    return out
