#!/usr/bin/python3
"""HTTPS receiver of TLS-RPT reports for tests/e2e/queue-run-tls.bats (RFC 8460 5.2).

Usage: queue-run-tls-rpt-server.py CERT KEY ADDRESS PORT-FILE OUT-DIR

Binds ADDRESS on a free port (written to PORT-FILE once listening). Every POST is
answered 201 and saved as OUT-DIR/N.body (the bytes as received) and OUT-DIR/N.meta
(the path on the first line, the Content-Type on the second); anything else gets 405.
"""
import http.server
import os
import ssl
import sys
import threading

lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with lock:
            count += 1
            n = count
        out = sys.argv[5]
        with open(os.path.join(out, f"{n}.body.tmp"), "wb") as f:
            f.write(body)
        with open(os.path.join(out, f"{n}.meta"), "w") as f:
            f.write(f"{self.path}\n{self.headers.get('Content-Type', '')}\n")
        os.rename(os.path.join(out, f"{n}.body.tmp"), os.path.join(out, f"{n}.body"))
        self.reply(201)

    def do_GET(self):
        self.reply(405)


def main():
    cert, key, address, port_file, out = sys.argv[1:6]
    os.makedirs(out, exist_ok=True)
    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
