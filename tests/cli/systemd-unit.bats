#!/usr/bin/env bats
# examples/systemd/postern.service: systemd-analyze verify accepts it without a warning
# (a copy whose ExecStart names the built postern, so verify finds the program; the man
# pages of Documentation= are looked up in the build); it asks for what postern run
# needs (notify readiness, SIGHUP reload, no restart on exit 78, the paths of make
# install); and, as root, its capability bounding set with NoNewPrivileges still lets
# postern run bind a port below 1024 and start its services as another user.
#
# Needs (Debian): systemd (systemd-analyze; it runs without systemd as PID 1), man-db,
# util-linux (setpriv), swaks.

bats_require_minimum_version 1.5.0
load common

UNIT="$SRC_DIR/examples/systemd/postern.service"

# The value of KEY= in the unit (the last one wins, as in systemd).
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }

setup() {
  cd "$BATS_TEST_TMPDIR" || return
}

@test "systemd-analyze verify accepts the unit without a warning" {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  # Whether verify works here at all: a unit that cannot be wrong.
  printf '[Service]\nExecStart=/bin/true\n' > probe.service
  run systemd-analyze --man=no verify "$PWD/probe.service"
  [ "$status" -eq 0 ] || skip "systemd-analyze verify cannot run here: $output"
  [ -x "$BIN/postern" ] || { echo "no $BIN/postern" >&2; return 1; }
  sed "s|^ExecStart=[^ ]*/postern |ExecStart=$BIN/postern |" "$UNIT" > postern.service
  grep -q "^ExecStart=$BIN/postern run " postern.service
  local man=(--man=no)
  if command -v man >/dev/null; then
    man=(--man=yes)
    export MANPATH="$BUILD_DIR/man"
  fi
  run systemd-analyze "${man[@]}" verify "$PWD/postern.service"
  assert_status 0
  [ -z "$output" ] || { echo "verify warned: $output" >&2; return 1; }
}

@test "systemd-analyze verify is not a rubber stamp: a broken copy is refused" {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
  printf '[Service]\nExecStart=/bin/true\n' > probe.service
  run systemd-analyze --man=no verify "$PWD/probe.service"
  [ "$status" -eq 0 ] || skip "systemd-analyze verify cannot run here: $output"
  sed -e "s|^ExecStart=[^ ]*/postern |ExecStart=$BIN/postern-missing |" \
    -e 's/^Type=notify/Type=notified/' "$UNIT" > broken.service
  run systemd-analyze --man=no verify "$PWD/broken.service"
  [ "$status" -ne 0 ]
  assert_output_contains "postern-missing"
  assert_output_contains "notified"
}

@test "the unit runs postern run the way make install lays it out" {
  # make install's PREFIX (the Makefile's default) and /etc/postern.
  local prefix
  prefix=$(sed -n 's/^PREFIX *?= *//p' "$SRC_DIR/Makefile")
  [ -n "$prefix" ]
  [ "$(unit_value ExecStart)" = "$prefix/bin/postern run -c /etc/postern/postern.yaml" ]
  [ "$(unit_value Type)" = notify ]
  [ "$(unit_value ExecReload)" = '/bin/kill -HUP $MAINPID' ]
  [ "$(unit_value Restart)" = on-failure ]
  [ "$(unit_value RestartPreventExitStatus)" = 78 ]
  [ "$(unit_value KillMode)" = mixed ]
  [ "$(unit_value NoNewPrivileges)" = yes ]
  [ "$(unit_value ProtectSystem)" = full ]
  [ "$(unit_value PrivateTmp)" = yes ]
  # The program takes what the unit passes it.
  run "$BIN/postern" run --help
  assert_status 0
  assert_output_contains "--notify-fd"
  # Each man page of Documentation= has a source.
  [ -f "$SRC_DIR/man/postern.8.scd" ]
  grep -q 'postern.yaml.5' "$SRC_DIR/CMakeLists.txt"
}

@test "under the unit's capabilities and NoNewPrivileges, postern binds a port below 1024 and drops to its user" {
  [ "$(id -u)" -eq 0 ] || skip "needs root (a port below 1024, another user)"
  command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
  command -v swaks >/dev/null || skip "swaks is not installed"
  "$BIN/postern" run --help >/dev/null 2>&1 || skip "this build has no 'postern run'"
  runuser -u nobody -- test -x "$BIN/smtp-listen" || skip "user nobody cannot run $BIN/smtp-listen"
  # A free privileged loopback port.
  local port
  port=$(/usr/bin/python3 -c 'import socket
for p in range(1000, 600, -1):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()')
  [ -n "$port" ] || skip "no free port below 1024 on 127.0.0.1"
  # CapabilityBoundingSet=CAP_A CAP_B ... as setpriv's -all,+a,+b.
  local caps
  caps=$(unit_value CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ \+/,+/g; s/^/-all,+/')
  [[ "$caps" == *"+net_bind_service"* ]]
  local d
  d=$(mktemp -d /tmp/systemd-unit.XXXXXX)
  chmod 755 "$d"
  cat > "$d/postern.yaml" <<YAML
server:
  hostname: mx.example.org
  user: nobody
  data_dir: $d/data
listeners:
  - name: mx
    address: 127.0.0.1:$port
    mode: mx
delivery:
  dane: false
  mta_sts: false
YAML
  mkdir "$d/data"
  account-ctl -c "$d/postern.yaml" domain add example.org >/dev/null
  chown -R nobody: "$d/data"
  : > "$d/ready"
  setpriv --bounding-set="$caps" --inh-caps=-all --no-new-privs \
    "$BIN/postern" run -c "$d/postern.yaml" --notify-fd 3 3>"$d/ready" >"$d/log" 2>&1 &
  local p=$!
  for _ in $(seq 150); do
    [ -s "$d/ready" ] && break
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  local ok=0 users="" greeting=""
  if [ -s "$d/ready" ]; then
    users=$(ps -o user= --ppid "$p" | sort -u | tr -d ' ')
    greeting=$(swaks --server "127.0.0.1:$port" --quit-after EHLO 2>&1 | grep '^<-  220' || true)
    ok=1
  fi
  kill -TERM "$p" 2>/dev/null || true
  local rc=0
  wait "$p" || rc=$?
  if [ "$ok" -ne 1 ] || [ "$users" != nobody ] || [ -z "$greeting" ] || [ "$rc" -ne 0 ]; then
    echo "ready=$ok users=$users greeting=$greeting exit=$rc; log:" >&2
    tail -n 20 "$d/log" >&2
    rm -rf "$d"
    return 1
  fi
  rm -rf "$d"
}
