"""A TLS front for the emulator (tests of `AWS_CA_BUNDLE`): accepts TLS on 127.0.0.1 with the given
certificate and key and relays the bytes to the emulator's plain HTTP port.

    python3 -m amishare_emulator.tls_proxy --cert server.pem --key server.key --upstream 127.0.0.1:PORT

prints one JSON line `{"endpoint": "https://127.0.0.1:N", "pid": PID}` and serves until killed. A
client that does not trust the certificate fails the handshake; the proxy just drops it."""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import ssl
import threading


def relay(tls: ssl.SSLSocket, plain: socket.socket) -> None:
    """Copy bytes both ways until either side closes (one thread, so the TLS socket is never read
    and written from two threads at once)."""
    try:
        while True:
            ready, _, _ = select.select([tls, plain], [], [], 120)
            if not ready:
                return
            for s in ready:
                other = plain if s is tls else tls
                try:
                    data = s.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    return
                other.sendall(data)
                while s is tls and tls.pending():
                    other.sendall(tls.recv(65536))
    except OSError:
        return
    finally:
        for s in (tls, plain):
            try:
                s.close()
            except OSError:
                pass


def serve(ctx: ssl.SSLContext, client: socket.socket, upstream: tuple[str, int]) -> None:
    try:
        tls = ctx.wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError):
        client.close()  # e.g. the client does not trust our certificate
        return
    try:
        plain = socket.create_connection(upstream, timeout=30)
    except OSError:
        tls.close()
        return
    relay(tls, plain)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the emulator")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    host, _, port = args.upstream.rpartition(":")
    upstream = (host, int(port))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    print(json.dumps({"endpoint": f"https://127.0.0.1:{srv.getsockname()[1]}", "pid": os.getpid()}), flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(ctx, client, upstream), daemon=True).start()


if __name__ == "__main__":
    main()
