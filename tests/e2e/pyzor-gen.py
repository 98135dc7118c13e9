#!/usr/bin/python3
"""Writes messages that exercise Pyzor's digest rules into DIR (argument): HTML-only and
multipart/alternative bodies, base64 and quoted-printable, long lines, many short lines
(sampling), URLs and addresses, 8-bit charsets, character references, nested messages,
plus a deterministic random mix. Used by pyzor-interop.bats."""
import base64
import quopri
import random
import sys

out = sys.argv[1]
count = 0


def write(data):
    global count
    count += 1
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open("%s/gen%03d.eml" % (out, count), "wb") as f:
        f.write(data)


HEAD = "From: a@example.org\nTo: b@example.net\nSubject: test\nMIME-Version: 1.0\n"

PROSE = ["Cheap watches for sale today only", "Meet singles in your area now",
         "Your account has been suspended", "Click here to claim your prize",
         "Dear friend, I am a prince with money", "Limited offer: 90% off everything",
         "Verify your password immediately", "This is not spam, honestly friend"]

# Plain, with addresses, URLs, long tokens.
write(HEAD + "\nHello there friend,\nvisit http://spam.example.com/x?y=1 now\n"
      "mail me at someone@example.com or call\nabcdefghijklmnop short\n"
      "www.example.com/path is here\nmailto:x@y.z please\n")
# Few lines (atomic), one short.
write(HEAD + "\nshort\nThis line is long enough\n")
# Many short lines: sampling.
write(HEAD + "\n" + "".join("line number %d here\n" % i for i in range(100)))
write(HEAD + "\n" + "".join("row %d of seven\n" % i for i in range(7)))
write(HEAD + "\n" + "".join("entry %d of five\n" % i for i in range(5)))
# Long lines.
write(HEAD + "\n" + ("word " * 400) + "\n" + ("x" * 2000) + "\nthe end of it all\n")
# HTML only, with entities, script and style, comments.
write(HEAD + "Content-Type: text/html; charset=utf-8\n\n"
      "<html><head><style>p {color: red}</style><title>Great deals</title></head>"
      "<body><p>Caf&eacute; &amp; bar &lt;b&gt; &#233;t&#xE9; &copy 2024 &hellip; &mdash; &ampx</p>\n"
      "<script>var a = '<p>hidden</p>';</script><!-- a comment -->"
      "<div>Visit <a href=\"http://x.example/\">our shop</a> today!</div>\n"
      "<p>Second paragraph with <b>bold</b> and <i>italics</i> text</p></body></html>\n")
# multipart/alternative.
write(HEAD + "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
      "preamble text is ignored\n--b1\nContent-Type: text/plain; charset=us-ascii\n\n"
      "Plain version of the offer\nwith two lines of text\n--b1\n"
      "Content-Type: text/html; charset=us-ascii\n\n"
      "<p>HTML version of the offer</p><p>with two lines of text</p>\n--b1--\nepilogue\n")
# base64 and quoted-printable bodies.
body = "\n".join(PROSE) + "\nÜnïcödé text lïne here\n"
write(HEAD + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
      + base64.encodebytes(body.encode("utf-8")).decode())
write(HEAD + "Content-Type: text/plain; charset=iso-8859-1\n"
      "Content-Transfer-Encoding: quoted-printable\n\n"
      + quopri.encodestring(body.encode("latin-1")).decode() + "soft=\nbreak line=20here\n")
write(HEAD + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
      + base64.encodebytes(("<p>" + "</p><p>".join(PROSE) + "</p>").encode()).decode())
# Non-UTF-8 charsets.
write((HEAD + "Content-Type: text/plain; charset=koi8-r\n"
       "Content-Transfer-Encoding: 8bit\n\n").encode() +
      "Привет, это тестовое сообщение\nСкидки на часы только сегодня\n".encode("koi8-r"))
write((HEAD + "Content-Type: text/plain; charset=shift_jis\n\n").encode() +
      "これはテストメッセージです。\n本日限りの特別セール中です\n".encode("shift_jis"))
write((HEAD + "Content-Type: text/plain; charset=windows-1252\n\n").encode() +
      "\u201cSmart quotes\u201d and \u20ac euro signs\nna\u00efve caf\u00e9 r\u00e9sum\u00e9 text\n"
      .encode("cp1252"))
write((HEAD + "Content-Type: text/plain\n\n").encode() +
      "undeclared 8-bit caf\u00e9 text here\nand more l\u00efnes of it\n".encode("latin-1"))
write((HEAD + "Content-Type: text/plain; charset=utf-8\n\n").encode() +
      b"broken \xff\xfe utf-8 bytes in here\nanother line \xc3\x28 bad\n")
# Unicode white space and line separators.
write(HEAD + "Content-Type: text/plain; charset=utf-8\n\n"
      "no\u00a0break\u2003spaces here and there\nline\u2028separator inside this\n"
      "ideographic\u3000space characters\n")
# Attachment and a forwarded message.
write(HEAD + "Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\n"
      "Content-Type: text/plain\n\nSee the attached files below\n--outer\n"
      "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
      + base64.encodebytes(bytes(range(200))).decode() + "--outer\n"
      "Content-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/html\n\n"
      "<p>Inner forwarded message body text</p>\n--outer--\n")
# multipart/digest with default message/rfc822 parts.
write(HEAD + "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\n"
      "First digested message text\n--d\n\nSubject: two\n\nSecond digested message text\n--d--\n")
# CRLF line ends.
write((HEAD + "\nCRLF line endings everywhere\nsecond line of the body\n").replace("\n", "\r\n"))

# A deterministic random mix.
rng = random.Random(8)
words = ("spam ham offer free money click unsubscribe viagra lottery winner dear customer "
         "account bank verify update login password secure http://a.example/b "
         "https://bit.example/xyz me@example.org x@y averyveryverylongtokenhere "
         "caf\u00e9 na\u00efve \u00fcber \u20ac100 &amp; &lt; <b> </b> <br> 12345").split()
for n in range(60):
    lines = []
    for _ in range(rng.randrange(1, 40)):
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randrange(0, 12))))
    text = "\n".join(lines) + "\n"
    kind = rng.randrange(4)
    charset = rng.choice(["utf-8", "iso-8859-1", "windows-1252"])
    raw = text.encode(charset, "replace")
    if kind == 0:
        msg = (HEAD + "Content-Type: text/plain; charset=%s\n\n" % charset).encode() + raw
    elif kind == 1:
        msg = (HEAD + "Content-Type: text/html; charset=%s\nContent-Transfer-Encoding: "
               "quoted-printable\n\n" % charset).encode() + quopri.encodestring(raw)
    elif kind == 2:
        msg = (HEAD + "Content-Type: text/plain; charset=%s\nContent-Transfer-Encoding: "
               "base64\n\n" % charset).encode() + base64.encodebytes(raw)
    else:
        msg = (HEAD + "Content-Type: multipart/alternative; boundary=zz\n\n--zz\n"
               "Content-Type: text/plain; charset=%s\n\n" % charset).encode() + raw + \
              ("\n--zz\nContent-Type: text/html; charset=%s\n\n" % charset).encode() + \
              b"<p>" + raw.replace(b"\n", b"</p>\n<p>") + b"</p>\n--zz--\n"
    write(msg)
print(count)
