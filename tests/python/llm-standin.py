#!/usr/bin/python3
"""A stand-in for an OpenAI-compatible chat-completions endpoint (lib/spam/llm.h tests).

Usage: llm-standin.py [--port N] [--key KEY] [--delay SECONDS] [--status CODE]
                      [--garbage] [--fence] [--log FILE]

Listens on 127.0.0.1 (port 0 = any free port) and prints the port as the first line on
stdout once listening. Speaks the wire format of POST /v1/chat/completions (also
/chat/completions): the request must be JSON with a model and a non-empty messages list of
{role, content}; errors come back as {"error": {"message", "type", "param", "code"}}.

The verdict is a function of the last user message (lower-cased), first rule that matches:

  malware   0.91  ".exe", ".scr", "enable macros", "enable content"
  phishing  0.93  "verify your account", "confirm your password", or a link whose host
                  looks like a login page of someone else ("login"/"signin"/"account" in
                  the host name, or a digit standing for a letter: paypa1, micros0ft)
  scam      0.87  "inheritance", "western union", "advance fee", "bitcoin wallet"
  spam      0.88  "viagra", "lottery", "casino", "cheap meds", "limited time offer"
  ham       0.80  anything else

The answer's content is {"category", "confidence", "reason"} as JSON text.

Options:
  --key KEY       require "Authorization: Bearer KEY" (401 invalid_api_key otherwise)
  --delay S       sleep S seconds before answering (timeout tests)
  --status CODE   fail every request with this HTTP status and an OpenAI-style error
  --garbage       answer with content that is not JSON
  --fence         wrap the JSON content in a ```json code fence with prose around it
  --log FILE      append each request body (parsed, then dumped as one JSON line) to FILE
"""
import argparse
import http.server
import json
import re
import sys
import threading
import time
import uuid

RULES = [
    ("malware", 0.91, [".exe", ".scr", "enable macros", "enable content"]),
    ("phishing", 0.93, ["verify your account", "confirm your password"]),
    ("scam", 0.87, ["inheritance", "western union", "advance fee", "bitcoin wallet"]),
    ("spam", 0.88, ["viagra", "lottery", "casino", "cheap meds", "limited time offer"]),
]
LOOKALIKE_LINK = re.compile(
    r"https?://[^\s/]*(?:login|signin|account|[a-z][0-9][a-z]|[a-z]{3,}[01](?=[.\-/]))[^\s/]*",
    re.I)
HTTP_REASONS = {400: "invalid_request_error", 401: "invalid_request_error",
                404: "invalid_request_error", 429: "rate_limit_exceeded"}

lock = threading.Lock()
args = None


def verdict(text):
    t = text.lower()
    for category, confidence, words in RULES:
        hits = [w for w in words if w in t]
        if category == "phishing" and not hits:
            m = LOOKALIKE_LINK.search(t)
            if m:
                hits = ["look-alike link " + m.group(0)]
        if hits:
            return category, confidence, f"The text contains {hits[0]!r}."
    return "ham", 0.80, "Nothing suspicious found."


def tokens(text):
    return max(1, len(text) // 4)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-standin/1"

    def log_message(self, fmt, *a):
        pass

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def error(self, code, message, etype=None, param=None, ecode=None):
        self.send_json(code, {"error": {"message": message,
                                        "type": etype or HTTP_REASONS.get(code, "server_error"),
                                        "param": param, "code": ecode}})

    def do_GET(self):
        self.error(404, f"Invalid URL (GET {self.path})")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path not in ("/v1/chat/completions", "/chat/completions"):
            return self.error(404, f"Invalid URL (POST {self.path})")
        if args.key is not None:
            auth = self.headers.get("Authorization") or ""
            if auth != "Bearer " + args.key:
                shown = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
                msg = ("You didn't provide an API key." if not shown else
                       f"Incorrect API key provided: {shown[:3]}***.")
                return self.error(401, msg, ecode="invalid_api_key")
        try:
            req = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return self.error(400, f"We could not parse the JSON body of your request. ({e})")
        if args.log:
            with lock, open(args.log, "a", encoding="utf-8") as log:
                log.write(json.dumps(req) + "\n")
        problem = validate(req)
        if problem:
            return self.error(400, problem[1], param=problem[0])
        if args.delay:
            time.sleep(args.delay)
        if args.status:
            return self.error(args.status, "The server had an error while processing your request.")
        user = [m["content"] for m in req["messages"] if m.get("role") == "user"]
        text = user[-1] if user else ""
        if isinstance(text, list):  # content parts
            text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
        category, confidence, reason = verdict(text)
        content = json.dumps({"category": category, "confidence": confidence, "reason": reason})
        if args.garbage:
            content = "I am not sure what you mean. Could you tell me more about the email?"
        elif args.fence:
            content = f"Here is my verdict:\n```json\n{content}\n```\nHope this helps."
        prompt_tokens = sum(tokens(m["content"]) for m in req["messages"]
                            if isinstance(m.get("content"), str))
        completion_tokens = tokens(content)
        self.send_json(200, {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req["model"],
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


def validate(req):
    """(param, message) of the first problem in a request, or None."""
    if not isinstance(req, dict):
        return None, "The request body must be a JSON object."
    if not isinstance(req.get("model"), str) or not req["model"]:
        return "model", "you must provide a model parameter"
    msgs = req.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages", "'messages' must be a non-empty array"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in (
                "system", "developer", "user", "assistant", "tool"):
            return f"messages.[{i}].role", f"Invalid value for 'messages[{i}].role'."
        if not isinstance(m.get("content"), (str, list)):
            return f"messages.[{i}].content", f"Invalid type for 'messages[{i}].content'."
    t = req.get("temperature", 1)
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 2:
        return "temperature", "temperature must be a number from 0 to 2"
    mt = req.get("max_tokens")
    if mt is not None and (not isinstance(mt, int) or isinstance(mt, bool) or mt < 1):
        return "max_tokens", "max_tokens must be a positive integer"
    rf = req.get("response_format")
    if rf is not None and (not isinstance(rf, dict) or
                           rf.get("type") not in ("text", "json_object", "json_schema")):
        return "response_format", "Invalid value for 'response_format.type'."
    return None


def main():
    global args
    p = argparse.ArgumentParser(description="chat-completions stand-in for tests")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--key")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--status", type=int, default=0)
    p.add_argument("--garbage", action="store_true")
    p.add_argument("--fence", action="store_true")
    p.add_argument("--log")
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
