#!/usr/bin/env bats
# spam-score with its network checks: DNS blocklists answered by a real DNS server
# (Debian's NSD on a loopback port, zones from tests/e2e/dnsbl-zones.sh standing in for
# Spamhaus ZEN and DBL), and the LLM classifier against the chat-completions stand-in
# (tests/python/llm-standin.py), including a server slower than the timeout: the message
# is scored without it, in time, and nothing fails. Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"
source "$SRC_DIR/tests/e2e/dnsbl-zones.sh"

setup_file() {
  export NSD_DIR="$BATS_FILE_TMPDIR/nsd" NSD_PORT=""
  if [ -x /usr/sbin/nsd ]; then
    NSD_PORT=$(free_udp_port)
    dnsbl_test_zones "$NSD_DIR" "$NSD_PORT" >&2
    nsd_start "$NSD_DIR" "$NSD_PORT" zen.dnsbl.test || NSD_PORT=""
  fi
}

teardown_file() {
  [ -z "$NSD_PORT" ] || nsd_stop "$NSD_DIR"
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
  printf 'From: Support <support@phish.example>\r\nTo: bob@example.org\r\nSubject: Verify your account\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <p1@phish.example>\r\n\r\nPlease verify your account at https://login.phish.example/x and https://www.spam-site.co.uk/y today.\r\n' > phish.eml
  printf 'From: Ann <ann@example.net>\r\nTo: bob@example.org\r\nSubject: lunch\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <a1@example.net>\r\n\r\nLunch at noon?\r\n' > plain.eml
}

standin() {  # standin ARGS...: starts the stand-in, sets LLM_PORT and LLM_PID
  coproc LLM { exec /usr/bin/python3 "$SRC_DIR/tests/python/llm-standin.py" --port 0 "$@"; }
  LLM_PID=$LLM_PID
  read -r -t 10 LLM_PORT <&"${LLM[0]}"
  [ -n "$LLM_PORT" ]
}

teardown() {
  [ -z "${LLM_PID:-}" ] || kill "$LLM_PID" 2>/dev/null || true
}

llm_set() {
  echo --set spam.llm.enabled=true --set "spam.llm.url=http://127.0.0.1:$LLM_PORT/v1" \
    --set spam.llm.model=standin-1 --set spam.llm.api_key=k3y
}

@test "spam-score: the client address and the link domains in blocklists on a real DNS server" {
  [ -n "$NSD_PORT" ] || skip "NSD is not installed or did not start"
  zones='spam.dnsbl.zones=[spamhaus-zen:zen.dnsbl.test, spamhaus-dbl:dbl.dnsbl.test]'
  run spam-score --explain --dns-server "127.0.0.1:$NSD_PORT" --ip 192.0.2.2 phish.eml --set "$zones"
  assert_status 0
  assert_output_contains "SPAMHAUS_ZEN_SBL  (192.0.2.2 listed (127.0.0.2))"
  assert_output_contains "SPAMHAUS_DBL_PHISH  (phish.example listed (127.0.1.4))"
  assert_output_contains "SPAMHAUS_DBL_SPAM  (spam-site.co.uk listed (127.0.1.2))"
  # An address the zones do not list, a message without listed links: nothing.
  run spam-score --explain --dns-server "127.0.0.1:$NSD_PORT" --ip 192.0.2.77 plain.eml --set "$zones"
  assert_status 0
  [[ "$output" != *SPAMHAUS* ]]
  # A "public resolver" refusal (127.255.255.254) is an error, not a listing.
  run spam-score --explain --dns-server "127.0.0.1:$NSD_PORT" --ip 192.0.2.20 plain.eml --set "$zones"
  assert_status 0
  [[ "$output" != *SPAMHAUS_ZEN_* ]]
}

@test "spam-score: a DNS server that never answers costs only spam.dnsbl.timeout" {
  swallow_start "$BATS_TEST_TMPDIR"
  port=$(cat "$BATS_TEST_TMPDIR/swallow.port")
  start=$(date +%s%N)
  run spam-score --json --dns-server "127.0.0.1:$port" --ip 192.0.2.2 phish.eml \
    --set 'spam.dnsbl.zones=[spamhaus-zen:zen.dnsbl.test]' --set spam.dnsbl.timeout=1s
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  swallow_stop "$BATS_TEST_TMPDIR"
  assert_status 0
  assert_output_contains '"file":"phish.eml"'
  echo "took ${elapsed} ms"
  [ "$elapsed" -lt 4000 ]
}

@test "spam-score: the LLM classifier over the chat-completions wire format" {
  standin --key k3y --log "$BATS_TEST_TMPDIR/requests.jsonl"
  run spam-score --explain phish.eml $(llm_set)
  assert_status 0
  assert_output_contains "LLM_PHISHING  (confidence 0.93"
  run spam-score --explain plain.eml $(llm_set)
  assert_output_contains "LLM_HAM"
  # What was sent: the model, the message between its markers.
  /usr/bin/python3 - "$BATS_TEST_TMPDIR/requests.jsonl" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert len(reqs) == 2, len(reqs)
assert reqs[0]["model"] == "standin-1"
user = reqs[0]["messages"][-1]["content"]
assert "Verify your account" in user and "https://login.phish.example/x" in user, user
PY
}

@test "spam-score: an LLM slower than spam.llm.timeout, or failing, is left out" {
  standin --key k3y --delay 5
  start=$(date +%s%N)
  run spam-score --json phish.eml $(llm_set) --set spam.llm.timeout=1s
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  assert_status 0
  [[ "$output" != *LLM_* ]]
  echo "took ${elapsed} ms"
  [ "$elapsed" -lt 4000 ]
  kill "$LLM_PID"; LLM_PID=""
  standin --key k3y --status 500
  run spam-score --json phish.eml $(llm_set)
  assert_status 0
  [[ "$output" != *LLM_* ]]
  kill "$LLM_PID"; LLM_PID=""
  standin --key other
  run spam-score --json phish.eml $(llm_set)
  assert_status 0
  [[ "$output" != *LLM_* ]]
}

@test "spam-score: spam.llm.enabled without url or model is a config error" {
  run spam-score plain.eml --set spam.llm.enabled=true
  assert_status 75
  assert_output_contains "spam.llm.url"
}
