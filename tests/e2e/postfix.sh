# A private Postfix for the tests that talk to a real one (never the system's instance,
# which may or may not be running): its own main.cf and master.cf (Debian's, copied and
# then overridden), queue and data directories, no chroot, its log in $PF_DIR/postfix.log.
# Bash; bats files `source` it after `load common`.
#
#   pf_init                   a new $PF_DIR (etc/, spool/, data/ owned by postfix); skips
#                             the test when postfix, its user or root is missing. Put
#                             files the instance needs (certificates) there next.
#   pf_start ADDR:PORT [MAIN.CF SETTING]...
#                             configures one smtpd on ADDR:PORT (the usual smtp/inet
#                             entry removed; none at all for ADDR:PORT "-"), with the
#                             settings after the common ones, starts Postfix and waits
#                             until it listens
#   pf_stop                   stops it, waits for its master to exit, shows the end of
#                             its log when the test failed, and removes $PF_DIR (teardown)
#   pf_listening ADDR PORT    whether something accepts connections there

pf_init() {
  command -v postfix >/dev/null || skip "postfix is not installed"
  getent passwd postfix >/dev/null || skip "no postfix user"
  [ "$(id -u)" -eq 0 ] || skip "starting a private Postfix needs root"
  PF_DIR=$(mktemp -d /tmp/pf-XXXXXX)
  chmod 755 "$PF_DIR"
  mkdir -p "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/data"
  chown postfix "$PF_DIR/data"
  cp /etc/postfix/main.cf /etc/postfix/master.cf "$PF_DIR/etc/"
}

pf_listening() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pf_start() {
  local listen=$1
  shift
  local C=(postconf -c "$PF_DIR/etc")
  "${C[@]}" -e queue_directory="$PF_DIR/spool" data_directory="$PF_DIR/data" \
    maillog_file="$PF_DIR/postfix.log" maillog_file_prefixes="$PF_DIR" \
    mydestination= alias_maps= alias_database= inet_interfaces=127.0.0.1 inet_protocols=ipv4 \
    relayhost= "$@" || return 1
  "${C[@]}" -F '*/*/chroot=n'
  "${C[@]}" -M# smtp/inet
  [ "$listen" = - ] || "${C[@]}" -M "$listen/inet=$listen inet n - n - - smtpd"
  postfix -c "$PF_DIR/etc" check 3>&- || { echo "postfix check failed" >&2; return 1; }
  postfix -c "$PF_DIR/etc" start 3>&- >/dev/null 2>&1 || {
    echo "postfix start failed" >&2; cat "$PF_DIR/postfix.log" >&2; return 1; }
  [ "$listen" = - ] && return 0
  for _ in $(seq 100); do
    pf_listening "${listen%:*}" "${listen##*:}" && return 0
    sleep 0.1
  done
  echo "postfix does not listen on $listen" >&2
  return 1
}

pf_stop() {
  [ -n "${PF_DIR:-}" ] && [ -d "$PF_DIR" ] || return 0
  local master
  master=$(tr -d ' ' < "$PF_DIR/spool/pid/master.pid" 2>/dev/null || true)
  postfix -c "$PF_DIR/etc" stop 3>&- >/dev/null 2>&1 || true
  if [ -n "$master" ]; then
    for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "${BATS_TEST_COMPLETED:-}" ] || { echo "--- postfix.log" >&2; tail -n 40 "$PF_DIR/postfix.log" >&2; }
  rm -rf "$PF_DIR"
  PF_DIR=
}
