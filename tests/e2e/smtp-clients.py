#!/usr/bin/python3
"""SMTP clients for tests/e2e/smtp-interop.bats: Python's smtplib, and raw sockets for
BDAT and hostile input. Each subcommand talks to 127.0.0.1:PORT and prints what the
server answered (one reply line per line of output), so the bats file asserts on it.

  smtp-clients.py send-message PORT            smtplib send_message on MX (BODY=8BITMIME)
  smtp-clients.py login PORT USER PASSWORD CA  starttls() + login() + sendmail on submission
  smtp-clients.py smtputf8 PORT SENDER RCPT    UTF-8 envelope with mail_options SMTPUTF8
  smtp-clients.py dsn PORT                     RET/ENVID/NOTIFY/ORCPT
  smtp-clients.py bdat PORT OUTFILE            BDAT chunks; writes the bytes sent to OUTFILE
  smtp-clients.py raw PORT FILE                sends FILE's bytes, prints every reply until close
  smtp-clients.py noops PORT N                 N pipelined NOOPs in one write
  smtp-clients.py slowloris PORT SECONDS       one byte a second; prints how long it lasted
  smtp-clients.py garbage-tls PORT             garbage where a TLS ClientHello belongs
  smtp-clients.py hold PORT N                  N connections held open, then one more
  smtp-clients.py hold-session PORT DIR        a session held across a reload (see bats)
  smtp-clients.py idle PORT DIR                EHLO, then waits for what the server says
  smtp-clients.py mid-data PORT DIR            half a message body, DIR/mid, waits for DIR/go,
                                               the rest; then a new MAIL (a drain's answer)
"""
import email.message
import os
import smtplib
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"


def connect(port, timeout=10):
    s = socket.create_connection((HOST, port), timeout=timeout)
    return s


def read_reply(f):
    """Reads one (possibly multi-line) SMTP reply from a file object; returns its lines."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            lines.append("<closed>")
            return lines
        line = line.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return lines


def read_all(s, limit=30.0):
    """Everything the server sends until it closes (or `limit` seconds pass)."""
    s.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data.decode("utf-8", "replace")


def message(subject, body="hello\r\n", sender="x@remote.test", to="ann@example.org"):
    m = email.message.EmailMessage()
    m["From"] = sender
    m["To"] = to
    m["Subject"] = subject
    m.set_content(body)
    return m


def cmd_send_message(port):
    m = email.message.EmailMessage()
    m["From"] = "carol@remote.test"
    m["To"] = "ann@example.org"
    m["Subject"] = "smtplib send_message"
    m["Message-ID"] = "<smtplib-1@remote.test>"
    m.set_content("Grüße aus Köln\n", cte="8bit")
    with smtplib.SMTP(HOST, port, timeout=10) as c:
        c.ehlo("client.test")
        refused = c.send_message(m, mail_options=["BODY=8BITMIME"])
        print("refused", refused)
        print(c.noop())


def cmd_login(port, user, password, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with smtplib.SMTP(HOST, port, timeout=10) as c:
        c.ehlo("client.test")
        print("before-tls-auth", c.has_extn("auth"))
        c.starttls(context=ctx)
        c.ehlo("client.test")
        print("after-tls-auth", c.esmtp_features.get("auth", ""))
        print("login", c.login(user, password))
        m = message("smtplib login", sender=user, to="dave@far.test")
        print("refused", c.send_message(m))


def cmd_smtputf8(port, sender, rcpt):
    body = ("From: %s\r\nTo: %s\r\nSubject: UTF-8 everywhere: Grüße\r\n\r\nhallo\r\n"
            % (sender, rcpt)).encode("utf-8")
    with smtplib.SMTP(HOST, port, timeout=10) as c:
        c.ehlo("client.test")
        print("smtputf8", c.has_extn("smtputf8"))
        refused = c.sendmail(sender, [rcpt], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        print("refused", refused)


def cmd_dsn(port):
    body = b"From: x@remote.test\r\nTo: ann@example.org\r\nSubject: dsn\r\n\r\nplease report\r\n"
    with smtplib.SMTP(HOST, port, timeout=10) as c:
        c.ehlo("client.test")
        print("dsn", c.has_extn("dsn"))
        refused = c.sendmail("x@remote.test", ["ann@example.org"], body,
                             mail_options=["RET=FULL", "ENVID=e2e+2Benvid"],
                             rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;sales+2Bx@example.org"])
        print("refused", refused)


def cmd_bdat(port, outfile):
    chunks = [
        b"From: x@remote.test\r\nTo: ann@example.org\r\nSubject: bdat\r\n\r\n",
        b"a lone dot line follows\r\n.\r\nand was content\r\n",
        b"an end-of-data sequence inside\r\n.\r\nMAIL FROM:<evil@remote.test>\r\n",
        b"last chunk\r\n",
    ]
    s = connect(port)
    f = s.makefile("rb")
    out = []
    out += read_reply(f)
    s.sendall(b"EHLO client.test\r\n")
    out += read_reply(f)
    s.sendall(b"MAIL FROM:<x@remote.test>\r\n")
    out += read_reply(f)
    s.sendall(b"RCPT TO:<ann@example.org>\r\n")
    out += read_reply(f)
    for i, c in enumerate(chunks):
        last = " LAST" if i == len(chunks) - 1 else ""
        s.sendall(b"BDAT %d%s\r\n" % (len(c), last.encode()) + c)
        out += read_reply(f)
    s.sendall(b"QUIT\r\n")
    out += read_reply(f)
    s.close()
    with open(outfile, "wb") as w:
        w.write(b"".join(chunks))
    print("\n".join(out))


def cmd_raw(port, infile):
    s = connect(port)
    with open(infile, "rb") as f:
        s.sendall(f.read())
    print(read_all(s, 15).replace("\r\n", "\n"))


def cmd_noops(port, n):
    s = connect(port)
    s.sendall(b"EHLO client.test\r\n" + b"NOOP\r\n" * int(n))
    text = read_all(s, 20)
    print("replies", len(text.splitlines()))
    print("ok", text.count("250 2.0.0 ok"))
    print(text.splitlines()[-1] if text else "<nothing>")


def cmd_slowloris(port, seconds):
    s = connect(port)
    f = s.makefile("rb")
    read_reply(f)
    start = time.monotonic()
    line = b"EHLO slow.client.test\r\n" * 5
    closed = False
    for b in line[: int(seconds)]:
        try:
            s.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        s.settimeout(1.0)
        try:
            got = s.recv(4096)
            if not got:
                closed = True
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
            break
    print("closed" if closed else "still-open", round(time.monotonic() - start))


def cmd_garbage_tls(port):
    s = connect(port)
    s.sendall(b"\x16\x03\x01\x00\x05garbage that is no ClientHello\r\n" + os.urandom(512))
    print("got", len(read_all(s, 10)), "bytes, closed")


def cmd_hold(port, n):
    held = []
    for _ in range(int(n)):
        s = connect(port)
        f = s.makefile("rb")
        print(" ".join(read_reply(f)))
        held.append((s, f))
    s = connect(port)
    print("extra:", read_all(s, 10).strip())
    for h, _ in held:
        h.sendall(b"QUIT\r\n")
        h.close()


def wait_for(path, seconds=20):
    end = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for " + path)
        time.sleep(0.05)


def cmd_hold_session(port, d):
    s = connect(port, timeout=30)
    f = s.makefile("rb")
    out = read_reply(f)
    s.sendall(b"EHLO old.client.test\r\n")
    out += read_reply(f)
    s.sendall(b"MAIL FROM:<x@remote.test>\r\n")
    out += read_reply(f)
    open(os.path.join(d, "held"), "w").close()
    wait_for(os.path.join(d, "go"))
    for r in ("ann@example.org", "bob@example.org", "sales@example.org"):
        s.sendall(b"RCPT TO:<%s>\r\n" % r.encode())
        out += read_reply(f)
    s.sendall(b"DATA\r\n")
    out += read_reply(f)
    s.sendall(b"Subject: across a reload\r\n\r\nstill here\r\n.\r\n")
    out += read_reply(f)
    s.sendall(b"QUIT\r\n")
    out += read_reply(f)
    print("\n".join(out))


def cmd_idle(port, d):
    s = connect(port, timeout=30)
    f = s.makefile("rb")
    out = read_reply(f)
    s.sendall(b"EHLO idle.client.test\r\n")
    out += read_reply(f)
    open(os.path.join(d, "idle"), "w").close()
    out += read_reply(f)
    print("\n".join(out))


def cmd_mid_data(port, d):
    s = connect(port, timeout=30)
    f = s.makefile("rb")
    out = read_reply(f)
    for c in (b"EHLO draining.client.test", b"MAIL FROM:<x@remote.test>",
              b"RCPT TO:<ann@example.org>", b"DATA"):
        s.sendall(c + b"\r\n")
        out += read_reply(f)
    s.sendall(b"Subject: finished while draining\r\n\r\nfirst half\r\n")
    open(os.path.join(d, "mid"), "w").close()
    wait_for(os.path.join(d, "go"))
    s.sendall(b"second half\r\n.\r\n")
    out += read_reply(f)
    # A draining server takes no new transaction on this session.
    s.sendall(b"MAIL FROM:<x@remote.test>\r\n")
    out += read_reply(f)
    print("\n".join(out))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    port = int(args[0])
    fn = {
        "send-message": cmd_send_message,
        "login": cmd_login,
        "smtputf8": cmd_smtputf8,
        "dsn": cmd_dsn,
        "bdat": cmd_bdat,
        "raw": cmd_raw,
        "noops": cmd_noops,
        "slowloris": cmd_slowloris,
        "garbage-tls": cmd_garbage_tls,
        "hold": cmd_hold,
        "hold-session": cmd_hold_session,
        "idle": cmd_idle,
        "mid-data": cmd_mid_data,
    }[cmd]
    try:
        fn(port, *args[1:])
    except smtplib.SMTPException as e:
        print("smtp-error", type(e).__name__, e)
        sys.exit(1)


if __name__ == "__main__":
    main()
