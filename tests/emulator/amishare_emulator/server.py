"""Entry point: python3 -m amishare_emulator.server --port N [--latency-ms N] [--pending-seconds S]
[--ready-file PATH].  Binds 127.0.0.1 only."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")


def build_app(middleware):  # type: ignore[no-untyped-def]
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from . import autoscaling, ec2, kms_patches, orgs, partitions, ssm, sts_trust

    kms_patches.apply()
    ec2.apply()
    autoscaling.apply()
    orgs.apply()
    sts_trust.apply()
    ssm.apply()
    partitions.apply()
    from .guardrails import boundary, declarative

    declarative.apply()
    boundary.apply()

    dispatcher = DomainDispatcherApplication(create_backend_app)

    def reset_aws() -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    warm_up(dispatcher)
    middleware.set_app(dispatcher, reset_aws)


def warm_up(dispatcher) -> None:  # type: ignore[no-untyped-def]
    """Create the Flask apps for the services amishare uses, so the first call is fast."""
    for service, region in (("ec2", "us-east-1"), ("kms", "us-east-1"), ("sts", "us-east-1"),
                            ("iam", "us-east-1"), ("cloudtrail", "us-east-1"),
                            ("autoscaling", "us-east-1"), ("organizations", "us-east-1"),
                            ("ssm", "us-east-1")):
        host = f"{service}.{region}.amazonaws.com"
        try:
            with dispatcher.lock:
                backend = dispatcher.get_backend_for_host(host)
                if backend and backend not in dispatcher.app_instances:
                    dispatcher.app_instances[backend] = dispatcher.create_app(backend)
        except Exception as e:  # pragma: no cover - best effort
            print(f"warm-up of {service} failed: {e}", file=sys.stderr)


def _handler():  # type: ignore[no-untyped-def]
    """werkzeug's request handler, keeping the SSO portal's token header (its name has an `_`,
    which werkzeug drops)."""
    from werkzeug.serving import WSGIRequestHandler

    from .sso import TOKEN_ENVIRON_KEY, TOKEN_HEADER

    class Handler(WSGIRequestHandler):
        def make_environ(self):  # type: ignore[no-untyped-def]
            environ = super().make_environ()
            token = self.headers.get(TOKEN_HEADER)
            if token is not None:
                environ[TOKEN_ENVIRON_KEY] = token
            return environ

    return Handler


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--pending-seconds", type=float, default=2.0)
    ap.add_argument("--ready-file", default=None)
    args = ap.parse_args(argv)

    t0 = time.time()
    from werkzeug.serving import make_server

    from .state import CONFIG

    CONFIG.latency_ms = CONFIG.start_latency_ms = args.latency_ms
    CONFIG.pending_seconds = CONFIG.start_pending_seconds = args.pending_seconds

    from .middleware import EmulatorMiddleware

    app = EmulatorMiddleware()
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=_handler())
    port = server.server_port

    def _stop(signum, frame):  # type: ignore[no-untyped-def]
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def _load() -> None:
        try:
            build_app(app)
            print(f"moto loaded and patched in {time.time() - t0:.2f}s", flush=True)
        except BaseException as e:  # pragma: no cover
            app.load_error = f"{type(e).__name__}: {e}"
            app._ready.set()
            print(f"loading moto failed: {app.load_error}", file=sys.stderr, flush=True)

    # AWS requests wait for this (control endpoints do not): the port is usable at once.
    threading.Thread(target=_load, name="load-moto", daemon=True).start()
    info = {"endpoint": f"http://127.0.0.1:{port}", "pid": os.getpid()}
    print(f"amishare emulator listening on {info['endpoint']} pid {os.getpid()} "
          f"(bound in {time.time() - t0:.2f}s)", flush=True)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.ready_file)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
        print("amishare emulator stopped", flush=True)


if __name__ == "__main__":
    main()
