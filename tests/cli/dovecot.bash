# Shared by the bats files that check our Maildir against Dovecot's own reading of it:
#   load dovecot

# Dovecot's doveadm on a Maildir, as an unprivileged user (Dovecot refuses root).
# dove_setup skips the test when doveadm is missing; dove MAILDIR ARGS... runs it.
dove_setup() {
  command -v doveadm >/dev/null || skip "doveadm is not installed"
  DV=$(mktemp -d "${TMPDIR:-/tmp}/postern-dovecot.XXXXXX")
  chmod 755 "$DV"
  DVUSER=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    command -v runuser >/dev/null || skip "runuser is not installed"
    DVUSER=nobody
  fi
}
dove() {
  local dir=$1
  shift
  printf '%s\n' "mail_location = maildir:$dir" "base_dir = $DV/run" \
    "log_path = $DV/dovecot.log" "ssl = no" "mail_uid = $(id -u "$DVUSER")" \
    "mail_gid = $(id -g "$DVUSER")" "first_valid_uid = 1" >"$DV/dovecot.conf"
  chown -R "$DVUSER" "$DV"
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$DVUSER" -- env TZ=UTC USER="$DVUSER" HOME="$DV" doveadm -c "$DV/dovecot.conf" "$@"
  else
    env TZ=UTC USER="$DVUSER" HOME="$DV" doveadm -c "$DV/dovecot.conf" "$@"
  fi
}
teardown() {
  if [ -n "${DV:-}" ]; then rm -rf "$DV"; fi
}
