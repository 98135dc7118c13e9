# Shared by the tests that run Debian's NSD (POSIX sh, so the zone scripts can source it
# too; bats files `source` it after `load ../cli/common`).
#
#   nsd_soa NAME              the SOA, NS and ns A records that open a test zone
#   nsd_conf DIR PORT ZONE... nsd.conf in DIR for 127.0.0.1:PORT; ZONE is NAME (zone file
#                             NAME.zone) or NAME:FILE. NSD runs as root without dropping
#                             privileges (username: ""), so DIR needs no special access.
#   nsd_start DIR PORT NAME   starts it and waits until it answers NAME's SOA
#   nsd_stop DIR
#   swallow_start DIR         a UDP socket that reads queries and never answers (a DNS
#                             outage); its port in DIR/swallow.port
#   swallow_stop DIR
#   free_udp_port

free_udp_port() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nsd_soa() {
  cat <<EOF
\$ORIGIN $1.
\$TTL 300
@ IN SOA ns.$1. hostmaster.$1. 1 3600 600 86400 120
@ IN NS ns.$1.
ns IN A 127.0.0.1
EOF
}

nsd_conf() {
  _dir=$1
  _port=$2
  shift 2
  {
    cat <<EOF
server:
  ip-address: 127.0.0.1@$_port
  port: $_port
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$_dir"
  pidfile: "$_dir/nsd.pid"
  database: ""
  zonelistfile: "$_dir/zone.list"
  xfrdfile: "$_dir/xfrd.state"
  xfrdir: "$_dir"
  logfile: "$_dir/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
EOF
    for _z in "$@"; do
      case $_z in
        *:*) printf 'zone:\n  name: %s\n  zonefile: %s\n' "${_z%%:*}" "${_z#*:}" ;;
        *) printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$_z" "$_z" ;;
      esac
    done
  } >"$_dir/nsd.conf"
  nsd-checkconf "$_dir/nsd.conf"
}

nsd_start() {
  /usr/sbin/nsd -c "$1/nsd.conf" 3>&-
  for _ in $(seq 50); do
    drill -p "$2" @127.0.0.1 "$3" SOA 2>/dev/null | grep -q 'rcode: NOERROR' && return 0
    sleep 0.1
  done
  cat "$1/nsd.log" >&2
  return 1
}

nsd_stop() {
  [ -s "$1/nsd.pid" ] || return 0
  _pid=$(cat "$1/nsd.pid")
  kill "$_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$_pid" 2>/dev/null || break; sleep 0.1; done
}

swallow_start() {
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True: s.recv(4096)' "$1/swallow.port" 3>&- >/dev/null 2>&1 &
  echo $! >"$1/swallow.pid"
  for _ in $(seq 50); do [ -s "$1/swallow.port" ] && break; sleep 0.1; done
  [ -s "$1/swallow.port" ]
}

swallow_stop() {
  if [ -s "$1/swallow.pid" ]; then kill "$(cat "$1/swallow.pid")" 2>/dev/null || true; fi
}
