#!/usr/bin/python3
"""A TCP forwarder for tests/e2e/queue-run-tls.bats.

Usage: queue-run-tls-forward.py LISTEN-IP LISTEN-PORT TARGET-PORT READY-FILE

Accepts on LISTEN-IP:LISTEN-PORT (e.g. 127.0.0.45:443, where queue-run fetches an MTA-STS
policy) and copies bytes both ways to 127.0.0.1:TARGET-PORT (mta-sts-server.py, which
binds a free port). Writes READY-FILE once listening. Runs until killed.
"""
import os
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, target):
    try:
        upstream = socket.create_connection(("127.0.0.1", target), timeout=10)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    t = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
    t.start()
    pipe(client, upstream)
    t.join()
    client.close()
    upstream.close()


def main():
    ip, port, target, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(16)
    with open(ready + ".tmp", "w") as f:
        f.write(f"{ip}:{port}\n")
    os.rename(ready + ".tmp", ready)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, target), daemon=True).start()


if __name__ == "__main__":
    main()
