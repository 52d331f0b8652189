"""WSGI middleware in front of moto: control endpoints (/_emulator/...), request log, injected
latency and faults, caller identity for the patches, CloudTrail LookupEvents."""

from __future__ import annotations

import io
import json
import os
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qs

from . import cloudtrail, state
from .principal import parse_auth, resolve_caller
from .state import CONFIG, DECISION_LOG, FAULTS, LOCK, REQUEST_LOG

READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Lookup", "Simulate", "Search", "Check", "Head", "Verify")
READ_ONLY_ACTIONS = {
    "AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "DecodeAuthorizationMessage",
    "Decrypt", "Encrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "GenerateMac",
    "Sign", "GetSessionToken", "GetFederationToken",
}
JSON_SERVICES = {"kms", "cloudtrail"}
SERVICE_BY_TARGET = {"TrentService": "kms", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101": "cloudtrail"}
_seq = [0]


def is_mutating(action: str) -> bool:
    if not action:
        return False
    if action in READ_ONLY_ACTIONS:
        return False
    return not action.startswith(READ_ONLY_PREFIXES)


def _json_response(start_response: Callable, status: int, body: Any) -> list[bytes]:
    data = json.dumps(body, default=str).encode()
    start_response(f"{status} {'OK' if status < 400 else 'ERROR'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length > 0:
        body = stream.read(length)
    elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _fault_body(service: str, kind: str, spec: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    rid = str(uuid.uuid4())
    if kind == "throttle":
        if service == "ec2":
            code, status, msg = "RequestLimitExceeded", 503, "Request limit exceeded."
        else:
            code, status, msg = "ThrottlingException", 400, "Rate exceeded"
    else:  # 5xx
        if service == "ec2":
            code, status, msg = "InternalError", 500, "An internal error has occurred"
        elif service == "kms":
            code, status, msg = "KMSInternalException", 500, "An internal error occurred."
        else:
            code, status, msg = "InternalFailure", 500, "An internal error occurred."
    code = spec.get("code") or code
    status = int(spec.get("status") or status)
    msg = spec.get("message") or msg
    hdrs = [("x-amzn-RequestId", rid)]
    if service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{msg}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        hdrs.append(("Content-Type", "text/xml;charset=UTF-8"))
    elif service in JSON_SERVICES:
        body = json.dumps({"__type": code, "message": msg}).encode()
        hdrs += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    else:  # awsQuery (iam, sts, ...)
        typ = "Sender" if status < 500 else "Receiver"
        body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error><Type>{typ}</Type>'
                f"<Code>{code}</Code><Message>{msg}</Message></Error><RequestId>{rid}</RequestId>"
                "</ErrorResponse>").encode()
        hdrs.append(("Content-Type", "text/xml"))
    hdrs.append(("Content-Length", str(len(body))))
    return status, hdrs, body


def _pick_fault(service: str, action: str) -> dict[str, Any] | None:
    with LOCK:
        for f in FAULTS:
            if f.get("service") and f["service"].lower() != service.lower():
                continue
            if f.get("action"):
                acts = f["action"] if isinstance(f["action"], list) else [f["action"]]
                if action not in acts and f"{service}:{action}" not in acts:
                    continue
            if f.get("count") is not None and f["fired"] >= int(f["count"]):
                continue
            rate = f.get("rate")
            rate = 1.0 if rate is None else float(rate)
            if rate < 1.0 and random.random() >= rate:
                continue
            f["fired"] += 1
            return f
    return None


class EmulatorMiddleware:
    """`app`/`reset_aws` may be set later (set_app): AWS requests wait until moto is loaded,
    control endpoints answer at once."""

    def __init__(self, app: Callable | None = None, reset_aws: Callable[[], None] | None = None):
        import threading

        self._ready = threading.Event()
        self.app: Callable = app  # type: ignore[assignment]
        self.reset_aws: Callable[[], None] = reset_aws  # type: ignore[assignment]
        self.load_error: str | None = None
        if app is not None:
            self._ready.set()

    def set_app(self, app: Callable, reset_aws: Callable[[], None]) -> None:
        self.app, self.reset_aws = app, reset_aws
        self._ready.set()

    def wait_ready(self, timeout: float = 60.0) -> bool:
        return self._ready.wait(timeout)

    # ------------------------------------------------------------------ control
    def control(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").rstrip("/")
        qs = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        raw = _read_body(environ)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _json_response(start_response, 400, {"error": "body must be JSON"})
        sub = path[len("/_emulator"):] or "/"
        handler, arg = _route(method, sub)
        if handler is None:
            return _json_response(start_response, 404, {"error": f"unknown control endpoint {method} {path}"})
        status, out = handler(self, ControlRequest(method, qs, body, arg))
        return _json_response(start_response, status, out)

    def _health(self, req: ControlRequest) -> tuple[int, Any]:
        if req.qs.get("wait"):
            w = req.qs["wait"]
            self._ready.wait(float(w) if w.replace(".", "", 1).isdigit() else 60.0)
        return 200, {"ok": True, "pid": os.getpid(), "loaded": self._ready.is_set(),
                     "latency_ms": CONFIG.latency_ms, "pending_seconds": CONFIG.pending_seconds,
                     "faults": len(FAULTS), "requests": len(REQUEST_LOG)}

    def _reset(self, req: ControlRequest) -> tuple[int, Any]:
        self.wait_ready()
        t = time.perf_counter()
        self.reset_aws()
        state.reset_extension_state()
        return 200, {"reset": True, "ms": round((time.perf_counter() - t) * 1000, 1)}

    def _requests(self, req: ControlRequest) -> tuple[int, Any]:
        with LOCK:
            items = list(REQUEST_LOG)
        qs = req.qs
        if "since" in qs:
            items = [r for r in items if r["seq"] > int(qs["since"])]
        for k in ("account", "region", "service", "action"):
            if k in qs:
                items = [r for r in items if str(r.get(k)) == qs[k]]
        if "mutating" in qs:
            want = qs["mutating"].lower() == "true"
            items = [r for r in items if r["mutating"] == want]
        return 200, items

    def _clear_requests(self, req: ControlRequest) -> tuple[int, Any]:
        with LOCK:
            REQUEST_LOG.clear()
        return 200, {"cleared": True}

    def _config(self, req: ControlRequest) -> tuple[int, Any]:
        if req.method in ("POST", "PUT"):
            with LOCK:
                if "latency_ms" in req.body:
                    CONFIG.latency_ms = max(0.0, float(req.body["latency_ms"]))
                if "pending_seconds" in req.body:
                    CONFIG.pending_seconds = max(0.0, float(req.body["pending_seconds"]))
        return 200, {"latency_ms": CONFIG.latency_ms, "pending_seconds": CONFIG.pending_seconds}

    def _latency(self, req: ControlRequest) -> tuple[int, Any]:
        CONFIG.latency_ms = max(0.0, float(req.body.get("ms", req.body.get("latency_ms", 0))))
        return 200, {"latency_ms": CONFIG.latency_ms}

    def _pending(self, req: ControlRequest) -> tuple[int, Any]:
        CONFIG.pending_seconds = max(0.0, float(req.body.get("seconds", req.body.get("pending_seconds", 0))))
        return 200, {"pending_seconds": CONFIG.pending_seconds}

    def _list_faults(self, req: ControlRequest) -> tuple[int, Any]:
        with LOCK:
            return 200, list(FAULTS)

    def _clear_faults(self, req: ControlRequest) -> tuple[int, Any]:
        with LOCK:
            FAULTS.clear()
        return 200, {"cleared": True}

    def _add_faults(self, req: ControlRequest) -> tuple[int, Any]:
        specs = req.body if isinstance(req.body, list) else [req.body]
        out = []
        for spec in specs:
            kind = spec.get("type", "throttle")
            if kind not in ("throttle", "5xx"):
                return 400, {"error": "type must be throttle or 5xx"}
            if spec.get("rate") is not None and not 0 <= float(spec["rate"]) <= 1:
                return 400, {"error": "rate must be in 0..1"}
            spec["type"] = kind
            out.append(state.add_fault(spec))
        return 200, out if isinstance(req.body, list) else out[0]

    def _delete_fault(self, req: ControlRequest) -> tuple[int, Any]:
        fid = int(req.arg)
        with LOCK:
            FAULTS[:] = [f for f in FAULTS if f["id"] != fid]
        return 200, {"deleted": fid}

    def _decisions(self, req: ControlRequest) -> tuple[int, Any]:
        with LOCK:
            return 200, list(DECISION_LOG)

    def _clear_decisions(self, req: ControlRequest) -> tuple[int, Any]:
        with LOCK:
            DECISION_LOG.clear()
        return 200, {"cleared": True}

    def _cloudtrail(self, req: ControlRequest) -> tuple[int, Any]:
        with cloudtrail._LOCK:
            out = []
            for (acct, reg), evs in cloudtrail.EVENTS.items():
                if req.qs.get("account") and req.qs["account"] != acct:
                    continue
                if req.qs.get("region") and req.qs["region"] != reg:
                    continue
                out.extend({"account": acct, "region": reg, **e} for e in evs)
        return 200, out

    def _ssm_rejected(self, req: ControlRequest) -> tuple[int, Any]:
        from . import ssm

        return 200, ssm.rejected()

    def _sso_tokens(self, req: ControlRequest) -> tuple[int, Any]:
        from . import sso

        token = str(req.body.get("token", "")) if isinstance(req.body, dict) else ""
        if not token:
            return 400, {"error": "body must be {\"token\": T}"}
        sso.register(token)
        return 200, {"registered": True}

    def _sso_calls(self, req: ControlRequest) -> tuple[int, Any]:
        from . import sso

        return 200, sso.calls()

    def _end_cooldown(self, req: ControlRequest) -> tuple[int, Any]:
        from .ec2 import lifecycle

        found = lifecycle.end_cooldown(req.arg)
        return (200 if found else 404), {"image": req.arg, "cooldown_ended": found}

    # ------------------------------------------------------------------ AWS
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator"):
            return self.control(environ, start_response)
        if not self.wait_ready() or self.app is None:
            return _json_response(start_response, 503, {"error": f"emulator failed to load: {self.load_error}"})
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        if path == "/federation/credentials":  # the SSO portal (sso.py)
            from . import sso

            return sso.get_role_credentials(environ, start_response)

        t0 = time.time()
        body = _read_body(environ)
        access_key, region, service = parse_auth(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = ""
        params: dict[str, list[str]] = {}
        if target:
            prefix, _, action = target.rpartition(".")
            service = service or SERVICE_BY_TARGET.get(prefix, "")
        else:
            ctype = environ.get("CONTENT_TYPE", "")
            if "x-www-form-urlencoded" in ctype or (body and b"Action=" in body[:200]):
                try:
                    params = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                except Exception:
                    params = {}
            qparams = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            for k, v in qparams.items():
                params.setdefault(k, v)
            action = (params.get("Action") or [""])[0]
        service = (service or "").lower()
        dry_run = str((params.get("DryRun") or ["false"])[0]).lower() == "true"
        try:
            caller = resolve_caller(environ)
        except Exception:
            caller = None
        pending_override = environ.get("HTTP_X_EMULATOR_PENDING_SECONDS")
        state.set_request_context(caller, float(pending_override) if pending_override else None)
        region = region or "us-east-1"
        with LOCK:
            _seq[0] += 1
            entry = {
                "seq": _seq[0],
                "time": t0,
                "timestamp": datetime.fromtimestamp(t0, tz=timezone.utc).isoformat(),
                "account": caller.account if caller else None,
                "principal": caller.arn if caller else None,
                "region": region,
                "service": service,
                "action": action,
                "mutating": is_mutating(action) and not dry_run,
                "dry_run": dry_run,
                "status": None,
                "fault": None,
            }
            REQUEST_LOG.append(entry)

        if CONFIG.latency_ms > 0:
            time.sleep(CONFIG.latency_ms / 1000.0)

        fault = _pick_fault(service, action)
        if fault is not None:
            status, hdrs, fbody = _fault_body(service, fault["type"], fault)
            entry["status"] = status
            entry["fault"] = {"id": fault["id"], "type": fault["type"]}
            entry["duration_ms"] = round((time.time() - t0) * 1000, 2)
            start_response(f"{status} ERROR", hdrs)
            return [fbody]

        denied = self._authorize(service, action, params, body, caller, region, bool(target), dry_run)
        if denied is not None:
            status, hdrs, dbody = denied
            entry["status"] = status
            entry["denied"] = status >= 400 and status != 412
            entry["duration_ms"] = round((time.time() - t0) * 1000, 2)
            state.set_request_context(None, None)
            start_response(f"{status} {'OK' if status < 400 else 'ERROR'}", hdrs)
            return [dbody]

        if service == "cloudtrail" and action == "LookupEvents":
            return self._lookup_events(environ, start_response, body, caller, region, entry, t0)

        status_holder: dict[str, Any] = {}

        def sr(status: str, headers: list, exc_info: Any = None) -> Any:
            status_holder["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            result = self.app(environ, sr)
            out = b"".join(result)
            if hasattr(result, "close"):
                result.close()
        finally:
            state.set_request_context(None, None)
        entry["status"] = status_holder.get("status")
        entry["duration_ms"] = round((time.time() - t0) * 1000, 2)
        entry["failed"] = bool(entry["status"] and entry["status"] >= 400)
        return [out]

    @staticmethod
    def _authorize(service: str, action: str, params: dict[str, list[str]], body: bytes, caller: Any,
                   region: str, json_protocol: bool, dry_run: bool) -> Any:
        """IAM on the API action (guardrails/api_auth.py): a response replacing moto's, or None."""
        from .guardrails import api_auth

        if json_protocol:
            try:
                doc = json.loads(body or b"{}")
                params = doc if isinstance(doc, dict) else {}
            except ValueError:
                params = {}
        state.set_request_params(params)
        return api_auth.check(service, action, params, caller, region, json_protocol, dry_run)

    def _lookup_events(self, environ: dict[str, Any], start_response: Callable, body: bytes, caller: Any,
                       region: str, entry: dict[str, Any], t0: float) -> list[bytes]:
        try:
            params = json.loads(body or b"{}")
            result = cloudtrail.lookup_events(caller.account, region, params)
            data = json.dumps(result).encode()
            status = 200
            hdrs = [("Content-Type", "application/x-amz-json-1.1")]
        except cloudtrail.LookupError_ as e:
            data = json.dumps({"__type": e.code, "message": e.message}).encode()
            status = 400
            hdrs = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", e.code)]
        except Exception as e:  # pragma: no cover
            data = json.dumps({"__type": "InvalidParameterException", "message": str(e)}).encode()
            status = 400
            hdrs = [("Content-Type", "application/x-amz-json-1.1")]
        hdrs += [("Content-Length", str(len(data))), ("x-amzn-RequestId", str(uuid.uuid4()))]
        entry["status"] = status
        entry["duration_ms"] = round((time.time() - t0) * 1000, 2)
        state.set_request_context(None, None)
        start_response(f"{status} {'OK' if status == 200 else 'ERROR'}", hdrs)
        return [data]


@dataclass
class ControlRequest:
    method: str
    qs: dict[str, str]
    body: Any
    arg: str  # the path segment a `{id}` route matched ("" otherwise)


Handler = Callable[[EmulatorMiddleware, ControlRequest], "tuple[int, Any]"]
ANY = "*"
# (path under /_emulator, method or ANY, handler): the first match wins; a path ending in "/{id}"
# matches one more segment, passed as ControlRequest.arg.
ROUTES: list[tuple[str, str, Handler]] = [
    ("/", ANY, EmulatorMiddleware._health),
    ("/health", ANY, EmulatorMiddleware._health),
    ("/reset", "POST", EmulatorMiddleware._reset),
    ("/requests", "DELETE", EmulatorMiddleware._clear_requests),
    ("/requests", ANY, EmulatorMiddleware._requests),
    ("/requests/clear", "POST", EmulatorMiddleware._clear_requests),
    ("/config", ANY, EmulatorMiddleware._config),
    ("/latency", "POST", EmulatorMiddleware._latency),
    ("/latency", "PUT", EmulatorMiddleware._latency),
    ("/pending", "POST", EmulatorMiddleware._pending),
    ("/pending", "PUT", EmulatorMiddleware._pending),
    ("/faults", "DELETE", EmulatorMiddleware._clear_faults),
    ("/faults", "POST", EmulatorMiddleware._add_faults),
    ("/faults", "PUT", EmulatorMiddleware._add_faults),
    ("/faults", ANY, EmulatorMiddleware._list_faults),
    ("/faults/{id}", "DELETE", EmulatorMiddleware._delete_fault),
    ("/decisions", "DELETE", EmulatorMiddleware._clear_decisions),
    ("/decisions", ANY, EmulatorMiddleware._decisions),
    ("/cloudtrail", ANY, EmulatorMiddleware._cloudtrail),
    ("/ssm/rejected", ANY, EmulatorMiddleware._ssm_rejected),
    ("/cooldown/{id}", "POST", EmulatorMiddleware._end_cooldown),
    ("/sso/tokens", "POST", EmulatorMiddleware._sso_tokens),
    ("/sso/calls", ANY, EmulatorMiddleware._sso_calls),
]


def _route(method: str, sub: str) -> tuple[Handler | None, str]:
    for path, m, handler in ROUTES:
        if m != ANY and m != method:
            continue
        if path == sub:
            return handler, ""
        if path.endswith("/{id}"):
            prefix = path[: -len("{id}")]
            rest = sub[len(prefix):]
            if sub.startswith(prefix) and rest and "/" not in rest:
                return handler, rest
    return None, ""
