#!/usr/bin/python3
"""HTTPS server for tests/e2e/mta-sts.bats: answers /.well-known/mta-sts.txt per Host.

Usage: mta-sts-server.py CERT KEY PORT-FILE LOG-FILE

Binds 127.0.0.1 on a free port (written to PORT-FILE once listening) and appends
"HOST PATH" to LOG-FILE for every request, so the test can count fetches. Behaviour by
the leftmost labels of the Host name (below sts.test):

  mta-sts.good      200 text/plain; charset=utf-8, an enforce policy
  mta-sts.testing   200 text/plain, a testing policy for mail.testing.sts.test
  mta-sts.html      200 text/html, the same policy
  mta-sts.redirect  301 to mta-sts.good (must not be followed)
  mta-sts.big       200 text/plain, 70000 bytes
  mta-sts.missing   404
  mta-sts.slow      waits 3 s before answering
  anything else     404
"""
import http.server
import ssl
import sys
import threading
import time

GOOD = (
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.good.sts.test\r\n"
    "mx: *.good.sts.test\r\n"
    "max_age: 86400\r\n"
)

TESTING = (
    "version: STSv1\r\n"
    "mode: testing\r\n"
    "mx: mail.testing.sts.test\r\n"
    "max_age: 86400\r\n"
)

lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, ctype, body, extra=None):
        data = body.encode()
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        with lock, open(sys.argv[4], "a") as log:
            log.write(f"{host} {self.path}\n")
        if self.path != "/.well-known/mta-sts.txt":
            return self.send(404, "text/plain", "not found\n")
        label = host[len("mta-sts."):].split(".")[0] if host.startswith("mta-sts.") else ""
        if label == "good":
            self.send(200, "text/plain; charset=utf-8", GOOD)
        elif label == "testing":
            self.send(200, "text/plain", TESTING)
        elif label == "html":
            self.send(200, "text/html", GOOD)
        elif label == "redirect":
            self.send(301, "text/plain", "moved\n",
                      {"Location": "https://mta-sts.good.sts.test/.well-known/mta-sts.txt"})
        elif label == "big":
            self.send(200, "text/plain", GOOD + "# " + "x" * 70000 + "\n")
        elif label == "slow":
            time.sleep(3)
            self.send(200, "text/plain", GOOD)
        else:
            self.send(404, "text/plain", "no policy here\n")


def main():
    cert, key, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
