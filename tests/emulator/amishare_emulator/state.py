"""Process-wide emulator state that is not AWS state: configuration, request log,
decision log, injected faults and the per-request context (who is calling)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

LOCK = threading.RLock()


@dataclass
class Config:
    latency_ms: float = 0.0
    pending_seconds: float = 2.0
    # values given at start; reset restores them
    start_latency_ms: float = 0.0
    start_pending_seconds: float = 2.0


CONFIG = Config()

REQUEST_LOG: list[dict[str, Any]] = []
DECISION_LOG: list[dict[str, Any]] = []
FAULTS: list[dict[str, Any]] = []
_fault_seq = [0]


class CallerKind(StrEnum):
    """CloudTrail's userIdentity.type for the callers the emulator knows (serialises to that string)."""

    IAM_USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"
    ROOT = "Root"
    UNKNOWN = "Unknown"


@dataclass
class Caller:
    account: str
    arn: str
    access_key: str
    kind: CallerKind
    principal_id: str
    role_arn: str | None = None  # for assumed roles: the role's ARN
    user_name: str | None = None
    region: str = "us-east-1"
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_local = threading.local()


def set_request_context(caller: Caller | None, pending_override: float | None) -> None:
    _local.caller = caller
    _local.params = None
    _local.pending_override = pending_override


def set_request_params(params: dict[str, Any]) -> None:
    """The request's parameters (query: name -> [values]; JSON: the document)."""
    _local.params = params


def request_params() -> dict[str, Any]:
    return getattr(_local, "params", None) or {}


def current_caller() -> Caller | None:
    """The principal AWS acts for now: an AWS service's role while it works (`acting_as`), else the
    caller of the request."""
    return getattr(_local, "acting", None) or getattr(_local, "caller", None)


class acting_as:  # noqa: N801  (a context manager used like a function)
    """`with acting_as(caller):` an AWS service (Auto Scaling) works as its own role."""

    def __init__(self, caller: Caller):
        self.caller = caller

    def __enter__(self) -> Caller:
        self.prev = getattr(_local, "acting", None)
        _local.acting = self.caller
        return self.caller

    def __exit__(self, *exc: object) -> None:
        _local.acting = self.prev


def pending_seconds() -> float:
    override = getattr(_local, "pending_override", None)
    if override is not None:
        return max(0.0, float(override))
    return max(0.0, float(CONFIG.pending_seconds))


def now() -> float:
    return time.time()


def record_decision(entry: dict[str, Any]) -> None:
    with LOCK:
        entry.setdefault("time", now())
        DECISION_LOG.append(entry)


def add_fault(spec: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        _fault_seq[0] += 1
        spec = dict(spec)
        spec["id"] = _fault_seq[0]
        spec.setdefault("fired", 0)
        FAULTS.append(spec)
        return spec


def reset_extension_state() -> None:
    with LOCK:
        REQUEST_LOG.clear()
        DECISION_LOG.clear()
        FAULTS.clear()
        CONFIG.latency_ms = CONFIG.start_latency_ms
        CONFIG.pending_seconds = CONFIG.start_pending_seconds
    from . import cloudtrail, ssm, sso
    from .guardrails import api_auth, session

    api_auth.reset()
    session.reset()
    try:
        from . import orgs
        from .ec2 import allowed_amis

        orgs.reset()
        allowed_amis.reset()
    except ImportError:  # moto not loaded yet
        pass
    cloudtrail.reset()
    ssm.reset()
    sso.reset()
