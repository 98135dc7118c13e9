// The schema: every key of postern.yaml, its type, default and meaning, in one table.
// Validation, defaults, the postern.yaml(5) page and `postern config show` all read it.
//
// To add a key, add a row. Sections (`log:`) are implied by dotted paths; a list of
// mappings is a kTable row plus one row per field, "<table>[].<field>".
#include <array>

#include "config/internal.h"

namespace postern::config::internal {
namespace {

constexpr std::string_view kListenerModes =
    "mx|submission|submissions|lmtp|local|imap|imaps|jmap|dav|metrics";

const std::array kSchema = {
    KeySpec{.path = "server.hostname",
            .type = Type::kString,
            .default_value = "${sys:hostname}",
            .doc = "Host name this server announces in SMTP greetings, Received: fields and "
                   "Authentication-Results.",
            .default_doc = "the machine's host name (gethostname(2))"},
    KeySpec{.path = "server.user",
            .type = Type::kString,
            .default_value = "postern",
            .doc = "Unprivileged user the supervisor runs the services as. make install (as "
                   "root) creates postern, a system user without a login shell."},
    KeySpec{.path = "server.data_dir",
            .type = Type::kPath,
            .default_value = "/var/lib/postern",
            .doc = "Directory for the store, message blobs and runtime state."},
    KeySpec{.path = "server.control_socket",
            .type = Type::kPath,
            .default_value = "${server.data_dir}/postern.sock",
            .doc = "Unix socket (mode 0600) on which the supervisor answers postern status, "
                   "reload and stop."},
    KeySpec{.path = "server.stop_timeout",
            .type = Type::kDuration,
            .default_value = "30s",
            .doc = "On SIGTERM, how long the supervisor gives each service to stop (smtp-listen "
                   "first, then queue-run) before it kills it."},
    KeySpec{.path = "server.log_file",
            .type = Type::kPath,
            .default_value = "",
            .doc = "File to which postern run appends every log line, its own and each "
                   "service's (created with mode 0640). SIGUSR1 reopens it after logrotate has "
                   "moved it; SIGHUP switches to a changed path.",
            .default_doc = "none: standard error (the journal under systemd)"},
    KeySpec{.path = "log.format",
            .type = Type::kEnum,
            .default_value = "logfmt",
            .doc = "Format of log lines: text for people, logfmt (key=value) or json for "
                   "collectors.",
            .values = "text|logfmt|json"},
    KeySpec{.path = "log.level",
            .type = Type::kEnum,
            .default_value = "info",
            .doc = "Least severe level that is logged.",
            .values = "debug|info|warn|error"},
    KeySpec{.path = "dns.servers",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Recursive resolvers to query; empty means the system resolver "
                   "(/etc/resolv.conf).",
            .item = Type::kHostPort},
    KeySpec{.path = "dns.timeout",
            .type = Type::kDuration,
            .default_value = "5s",
            .doc = "How long to wait for one DNS answer."},
    KeySpec{.path = "dns.trust_anchor",
            .type = Type::kPath,
            .default_value = "",
            .doc = "DNSSEC trust anchors (DS or DNSKEY records in zone-file syntax, RFC 4033), "
                   "for example /usr/share/dns/root.key; answers below an anchor are validated "
                   "and bogus ones fail (DANE needs this).",
            .default_doc = "none: answers are not validated"},
    KeySpec{.path = "store.engine",
            .type = Type::kEnum,
            .default_value = "sqlite",
            .doc = "Database engine: sqlite (embedded, one machine) or postgresql (shared by "
                   "several machines).",
            .values = "sqlite|postgresql"},
    KeySpec{.path = "store.path",
            .type = Type::kPath,
            .default_value = "${server.data_dir}/store.db",
            .doc = "SQLite database file (store.engine sqlite)."},
    KeySpec{.path = "store.url",
            .type = Type::kString,
            .default_value = "",
            .doc = "PostgreSQL connection string, libpq conninfo or URI (store.engine "
                   "postgresql); keep the password in ${file:...}."},
    KeySpec{.path = "store.blobs",
            .type = Type::kEnum,
            .default_value = "files",
            .doc = "Where message bytes live: files (under store.blob_dir, the default) or "
                   "database (inside the store, for several machines sharing PostgreSQL).",
            .values = "files|database"},
    KeySpec{.path = "store.blob_dir",
            .type = Type::kPath,
            .default_value = "${server.data_dir}/blobs",
            .doc = "Directory of message files (store.blobs files)."},
    KeySpec{.path = "smtp.max_message_size",
            .type = Type::kSize,
            .default_value = "35M",
            .doc = "Largest message accepted, announced in the EHLO SIZE keyword (RFC 1870)."},
    KeySpec{.path = "smtp.max_recipients",
            .type = Type::kInt,
            .default_value = "100",
            .doc = "Most RCPT TO commands accepted per transaction (RFC 5321 4.5.3.1.8 asks "
                   "for at least 100)."},
    KeySpec{.path = "smtp.auth_requires_tls",
            .type = Type::kBool,
            .default_value = "true",
            .doc = "Offer AUTH only on TLS-protected connections (RFC 4954 4)."},
    KeySpec{.path = "smtp.max_connections",
            .type = Type::kInt,
            .default_value = "1000",
            .doc = "Most SMTP sessions at once; more are refused with 421 (0: no limit)."},
    KeySpec{.path = "smtp.max_connections_per_ip",
            .type = Type::kInt,
            .default_value = "50",
            .doc = "Most SMTP sessions at once from one client address (0: no limit)."},
    KeySpec{.path = "smtp.max_commands",
            .type = Type::kInt,
            .default_value = "1000",
            .doc = "Most commands in one session before it is closed with 421 (0: no limit)."},
    KeySpec{.path = "smtp.max_errors",
            .type = Type::kInt,
            .default_value = "10",
            .doc = "Protocol errors (unknown commands, bad syntax) before the session is closed "
                   "with 421 (0: no limit)."},
    KeySpec{.path = "smtp.max_line",
            .type = Type::kInt,
            .default_value = "4096",
            .doc = "Longest command line accepted, in bytes (RFC 5321 4.5.3.1.4 asks for at "
                   "least 512); longer lines get 500 5.5.6."},
    KeySpec{.path = "smtp.command_timeout",
            .type = Type::kDuration,
            .default_value = "5m",
            .doc = "How long to wait for the next command (RFC 5321 4.5.3.2.7)."},
    KeySpec{.path = "smtp.data_timeout",
            .type = Type::kDuration,
            .default_value = "10m",
            .doc = "How long to wait for each block of message data (RFC 5321 4.5.3.2.6)."},
    KeySpec{.path = "smtp.drain_timeout",
            .type = Type::kDuration,
            .default_value = "30s",
            .doc = "On SIGTERM, how long sessions in a transaction may take to finish."},
    KeySpec{.path = "smtp.auth_failures_delay",
            .type = Type::kInt,
            .default_value = "3",
            .doc = "Failed AUTH attempts from one address after which each further failure is "
                   "answered one second slower per attempt (at most 10 s)."},
    KeySpec{.path = "smtp.auth_failures_max",
            .type = Type::kInt,
            .default_value = "10",
            .doc = "Failed AUTH attempts from one address after which AUTH is refused (454) "
                   "until smtp.auth_failures_window has passed (0: never refused)."},
    KeySpec{.path = "smtp.auth_failures_window",
            .type = Type::kDuration,
            .default_value = "1h",
            .doc = "How long failed AUTH attempts are remembered."},
    KeySpec{.path = "smtp.messages_per_ip_per_minute",
            .type = Type::kInt,
            .default_value = "0",
            .doc = "Messages accepted from one client address per minute; more get 450 4.7.1 "
                   "(0: no limit)."},
    KeySpec{.path = "smtp.messages_per_sender_per_minute",
            .type = Type::kInt,
            .default_value = "0",
            .doc = "Messages accepted from one MAIL FROM address per minute; more get 450 "
                   "4.7.1 (0: no limit)."},
    KeySpec{.path = "smtp.relay_domains",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Domains besides the local ones that mail is accepted for without AUTH "
                   "(backup MX); every other recipient needs AUTH (no open relay)."},
    KeySpec{.path = "smtp.bare_lf",
            .type = Type::kEnum,
            .default_value = "normalize",
            .doc = "A bare LF in message content: normalize (the line is stored with CRLF; never "
                   "an end of data) or reject (550 5.5.2). A bare CR is always refused.",
            .values = "normalize|reject"},
    KeySpec{.path = "smtp.dmarc",
            .type = Type::kEnum,
            .default_value = "tag",
            .doc = "What the auth-check filter does with a failing DMARC policy: off, tag (only "
                   "Authentication-Results) or enforce (p=reject is refused with 550 5.7.1, "
                   "p=quarantine goes to Junk).",
            .values = "off|tag|enforce"},
    KeySpec{.path = "smtp.dmarc_record",
            .type = Type::kPath,
            .default_value = "",
            .doc = "File the auth-check filter appends one JSON line per message to, for "
                   "dmarc-report.",
            .default_doc = "none"},
    KeySpec{.path = "smtp.trusted_arc_sealers",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Domains whose passing ARC seal overrides a failing DMARC policy (RFC 8617 "
                   "7.2.1)."},
    KeySpec{.path = "smtp.psl",
            .type = Type::kPath,
            .default_value = "/usr/share/publicsuffix/public_suffix_list.dat",
            .doc = "The Public Suffix List, for DMARC organizational domains."},
    KeySpec{.path = "smtp.metrics",
            .type = Type::kString,
            .default_value = "",
            .doc = "Address (host:port) of the Prometheus metrics endpoint of smtp-listen "
                   "(keep it on loopback).",
            .default_doc = "none"},
    KeySpec{.path = "smtp.filters",
            .type = Type::kTable,
            .default_value = "[]",
            .doc = "The filter pipeline, stages run in order at their SMTP step "
                   "(smtp-listen(8), FILTERS)."},
    KeySpec{.path = "smtp.filters[].name",
            .type = Type::kString,
            .default_value = "",
            .doc = "Name of the stage, for logs.",
            .required = true,
            .unique = true},
    KeySpec{.path = "smtp.filters[].stage",
            .type = Type::kEnum,
            .default_value = "data",
            .doc = "The SMTP step the stage runs at.",
            .values = "connect|helo|mail|rcpt|data"},
    KeySpec{.path = "smtp.filters[].builtin",
            .type = Type::kString,
            .default_value = "",
            .doc = "A stage run in-process: auth-check (data), spam-score (data), dnsbl "
                   "(any step; the client address against spam.dnsbl.zones) or greylist (rcpt); "
                   "smtp-listen(8), FILTERS.",
            .default_doc = "none"},
    KeySpec{.path = "smtp.filters[].exec",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Program and arguments of an external filter (the message contract of "
                   "postern(7))."},
    KeySpec{.path = "smtp.filters[].timeout",
            .type = Type::kDuration,
            .default_value = "30s",
            .doc = "How long the stage may take; then it counts as failed."},
    KeySpec{.path = "smtp.filters[].on_error",
            .type = Type::kEnum,
            .default_value = "tempfail",
            .doc = "When the stage fails (crash, timeout, exit 75): tempfail (451) or accept.",
            .values = "tempfail|accept"},
    KeySpec{.path = "smtp.filters[].check",
            .type = Type::kBool,
            .default_value = "true",
            .doc = "Exit status 1 rejects the message (550 5.7.1 with the stage's last stderr "
                   "line)."},
    KeySpec{.path = "smtp.filters[].listeners",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Names of the listeners the stage runs on (e.g. [mx] for inbound checks "
                   "only).",
            .default_doc = "all"},
    KeySpec{.path = "smtp.send_as",
            .type = Type::kTable,
            .default_value = "[]",
            .doc = "Addresses a submission login may use in MAIL FROM and From: besides its "
                   "own and its aliases."},
    KeySpec{.path = "smtp.send_as[].login",
            .type = Type::kString,
            .default_value = "",
            .doc = "The account address.",
            .required = true},
    KeySpec{.path = "smtp.send_as[].addresses",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Addresses, or @domain for any address of a domain."},
    KeySpec{.path = "smtp.local_trusted_users",
            .type = Type::kList,
            .default_value = "[root]",
            .doc = "Local users (login names) who may use any envelope sender and From: on a "
                   "local listener (postern-sendmail -f); uid 0 and server.user always may.",
            .default_doc = "[root]"},
    KeySpec{.path = "smtp.local_senders",
            .type = Type::kTable,
            .default_value = "[]",
            .doc = "Addresses a local user may send as on a local listener besides "
                   "user@server.hostname."},
    KeySpec{.path = "smtp.local_senders[].user",
            .type = Type::kString,
            .default_value = "",
            .doc = "The login name.",
            .required = true},
    KeySpec{.path = "smtp.local_senders[].addresses",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Addresses, or @domain for any address of a domain."},
    KeySpec{.path = "tls.certificate",
            .type = Type::kPath,
            .default_value = "",
            .doc = "PEM certificate chain of the server (STARTTLS, submissions).",
            .default_doc = "none: no TLS"},
    KeySpec{.path = "tls.key",
            .type = Type::kPath,
            .default_value = "",
            .doc = "PEM private key of tls.certificate.",
            .default_doc = "none"},
    KeySpec{.path = "delivery.retry",
            .type = Type::kList,
            .default_value = "[5m, 10m, 20m, 40m, 80m, 160m, 4h]",
            .doc = "queue-run: the wait after the 1st, 2nd, ... failed attempt; the last one "
                   "repeats.",
            .item = Type::kDuration},
    KeySpec{.path = "delivery.max_lifetime",
            .type = Type::kDuration,
            .default_value = "5d",
            .doc = "How long a message is retried before it is returned to its sender."},
    KeySpec{.path = "delivery.delay_warning",
            .type = Type::kDuration,
            .default_value = "4h",
            .doc = "After this long in the queue the sender gets a delay notice (once); 0: "
                   "never."},
    KeySpec{.path = "delivery.max_connections",
            .type = Type::kInt,
            .default_value = "100",
            .doc = "Outbound SMTP connections at once, in total."},
    KeySpec{.path = "delivery.max_per_destination",
            .type = Type::kInt,
            .default_value = "10",
            .doc = "Outbound connections at once to one destination (a domain's MX, or a "
                   "transport)."},
    KeySpec{.path = "delivery.max_recipients",
            .type = Type::kInt,
            .default_value = "100",
            .doc = "Recipients per outbound transaction; more are sent in further "
                   "transactions on the same connection."},
    KeySpec{.path = "delivery.batch",
            .type = Type::kInt,
            .default_value = "100",
            .doc = "Messages one queue-run works on at once (claimed under a lease)."},
    KeySpec{.path = "delivery.lease",
            .type = Type::kDuration,
            .default_value = "10m",
            .doc = "How long a claimed message stays with its worker unless renewed; a crashed "
                   "worker's messages are taken over after this."},
    KeySpec{.path = "delivery.poll",
            .type = Type::kDuration,
            .default_value = "1s",
            .doc = "How often queue-run looks for due messages when idle."},
    KeySpec{.path = "delivery.connection_idle",
            .type = Type::kDuration,
            .default_value = "5s",
            .doc = "How long an outbound connection is kept open for the next message."},
    KeySpec{.path = "delivery.connect_timeout",
            .type = Type::kDuration,
            .default_value = "30s",
            .doc = "Outbound: waiting for a TCP connection."},
    KeySpec{.path = "delivery.command_timeout",
            .type = Type::kDuration,
            .default_value = "5m",
            .doc = "Outbound: waiting for the greeting and each reply (RFC 5321 4.5.3.2)."},
    KeySpec{.path = "delivery.data_timeout",
            .type = Type::kDuration,
            .default_value = "10m",
            .doc = "Outbound: waiting for the reply to the end of the message."},
    KeySpec{.path = "delivery.mta_sts",
            .type = Type::kBool,
            .default_value = "true",
            .doc = "Honour MTA-STS policies of destination domains (RFC 8461)."},
    KeySpec{.path = "delivery.dane",
            .type = Type::kBool,
            .default_value = "true",
            .doc = "Authenticate MX hosts with DNSSEC-signed TLSA records (RFC 7672); needs "
                   "dns.trust_anchor."},
    KeySpec{.path = "delivery.tls_ca_file",
            .type = Type::kPath,
            .default_value = "",
            .doc = "Extra trusted CA certificates (PEM) for verified outbound TLS and MTA-STS "
                   "fetches.",
            .default_doc = "the system's trust store only"},
    KeySpec{.path = "delivery.metrics",
            .type = Type::kString,
            .default_value = "",
            .doc = "host:port where queue-run answers GET /metrics (Prometheus): the queue's "
                   "size, attempts, outcomes by domain, DSNs, connections.",
            .default_doc = "none"},
    KeySpec{.path = "delivery.transports",
            .type = Type::kTable,
            .default_value = "[]",
            .doc = "Where mail for some domains goes instead of their MX: a smart host for "
                   "everything (domain \"*\"), a gateway for a subdomain tree, LMTP."},
    KeySpec{.path = "delivery.transports[].domain",
            .type = Type::kString,
            .default_value = "",
            .doc = "example.net (that domain), .example.net (its subdomains) or * (every "
                   "domain that is not local).",
            .required = true},
    KeySpec{.path = "delivery.transports[].via",
            .type = Type::kString,
            .default_value = "",
            .doc = "smtp:[host]:port (that host), smtp:host:port (the host's MX), "
                   "lmtp:[host]:port, or mx (the normal route).",
            .required = true},
    KeySpec{.path = "delivery.transports[].tls",
            .type = Type::kEnum,
            .default_value = "opportunistic",
            .doc = "none, opportunistic (STARTTLS when offered), required (STARTTLS or "
                   "defer), verify (a valid certificate for the host, or defer), implicit "
                   "(TLS from the start, verified; port 465).",
            .values = "none|opportunistic|required|verify|implicit"},
    KeySpec{.path = "delivery.transports[].auth_user",
            .type = Type::kString,
            .default_value = "",
            .doc = "AUTH user name at the transport host.",
            .default_doc = "no AUTH"},
    KeySpec{.path = "delivery.transports[].auth_password",
            .type = Type::kString,
            .default_value = "",
            .doc = "Its password; use ${file:PATH} or ${env:NAME}.",
            .default_doc = "none"},
    KeySpec{.path = "delivery.dkim",
            .type = Type::kTable,
            .default_value = "[]",
            .doc = "DKIM keys: mail our users send (and our DSNs) is signed for its From: "
                   "domain."},
    KeySpec{.path = "delivery.dkim[].domain",
            .type = Type::kString,
            .default_value = "",
            .doc = "The signing domain (d=).",
            .required = true,
            .unique = true},
    KeySpec{.path = "delivery.dkim[].selector",
            .type = Type::kString,
            .default_value = "",
            .doc = "The selector (s=); its public key is published at "
                   "SELECTOR._domainkey.DOMAIN.",
            .required = true},
    KeySpec{.path = "delivery.dkim[].key",
            .type = Type::kPath,
            .default_value = "",
            .doc = "The private key, PEM (dkim-keygen writes one).",
            .required = true},
    KeySpec{.path = "delivery.srs.domain",
            .type = Type::kString,
            .default_value = "",
            .doc = "Mail an alias forwards outside gets its envelope sender rewritten into this "
                   "domain (SRS), so SPF passes at the destination.",
            .default_doc = "none: no rewriting"},
    KeySpec{.path = "delivery.srs.secrets",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "SRS secrets: the first signs, all verify (add a new one first to rotate)."},
    KeySpec{.path = "delivery.srs.max_age",
            .type = Type::kDuration,
            .default_value = "21d",
            .doc = "How long a rewritten address accepts bounces."},
    KeySpec{.path = "delivery.tls_rpt.enabled",
            .type = Type::kBool,
            .default_value = "true",
            .doc = "Count the TLS outcome of every connection to an MX host and send the daily "
                   "aggregate reports (SMTP TLS Reporting, RFC 8460) that destination domains ask "
                   "for in their _smtp._tls TXT record; see tls-report(8)."},
    KeySpec{.path = "delivery.tls_rpt.organization",
            .type = Type::kString,
            .default_value = "",
            .doc = "organization-name in the reports.",
            .default_doc = "server.hostname"},
    KeySpec{.path = "delivery.tls_rpt.contact",
            .type = Type::kString,
            .default_value = "",
            .doc = "contact-info in the reports: where a domain can ask about them.",
            .default_doc = "postmaster@ and server.hostname"},
    KeySpec{.path = "delivery.tls_rpt.from",
            .type = Type::kString,
            .default_value = "",
            .doc = "From: and envelope sender of mailed reports; signed when delivery.dkim has "
                   "a key for its domain (RFC 8460 5.3).",
            .default_doc = "noreply-tlsrpt@ and server.hostname"},
    KeySpec{.path = "spam.rules",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Rule files (YAML) or directories of them, read after the shipped rules: a rule "
                   "with a shipped rule's name replaces it, one with only a name and a score "
                   "changes its score; see spam-score(1).",
            .item = Type::kPath},
    KeySpec{.path = "spam.add_header",
            .type = Type::kString,
            .default_value = "4.0",
            .doc = "Score from which the X-Spam-* fields call the message probable spam."},
    KeySpec{.path = "spam.junk",
            .type = Type::kString,
            .default_value = "5.0",
            .doc = "Score from which X-Spam-Flag: YES is written and the message is filed into "
                   "Junk."},
    KeySpec{.path = "spam.reject",
            .type = Type::kString,
            .default_value = "15.0",
            .doc = "Score from which the in-server spam-score stage rejects the message at DATA."},
    KeySpec{.path = "spam.protected_domains",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Domains whose look-alikes and display-name use score high, besides the local "
                   "domains (e.g. your bank, your payment provider)."},
    KeySpec{.path = "spam.regex_engine",
            .type = Type::kEnum,
            .default_value = "hyperscan",
            .doc = "Regular-expression engine for the rules: hyperscan (one pass for all rules; "
                   "patterns it cannot take fall back to PCRE2) or pcre2 (PCRE2-JIT, rule by rule).",
            .values = "hyperscan|pcre2"},
    KeySpec{.path = "spam.cache_dir",
            .type = Type::kPath,
            .default_value = "${server.data_dir}/cache",
            .doc = "Where the compiled rule set is cached between runs (when neither this nor "
                   "server.data_dir is set: $XDG_CACHE_HOME/postern, else ~/.cache/postern)."},
    KeySpec{.path = "spam.bayes",
            .type = Type::kBool,
            .default_value = "true",
            .doc = "Use the statistical classifier (trained with spam-train)."},
    KeySpec{.path = "spam.bayes_min_learned",
            .type = Type::kInt,
            .default_value = "200",
            .doc = "Spam and ham messages each that must be learned before the classifier is "
                   "used."},
    KeySpec{.path = "spam.authserv_ids",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "authserv-ids whose Authentication-Results fields the filter trusts, besides "
                   "server.hostname."},
    KeySpec{.path = "spam.shorteners",
            .type = Type::kList,
            .default_value = "[bit.ly, tinyurl.com, t.co, goo.gl, is.gd, ow.ly, buff.ly, cutt.ly, "
                             "rebrand.ly, shorturl.at, rb.gy, tiny.cc, bl.ink, t.ly, v.gd, s.id, "
                             "qrco.de, shorturl.com, tiny.one, x.co]",
            .doc = "Host names of URL shorteners (links through them score)."},
    KeySpec{.path = "spam.dnsbl.zones",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "DNS blocklists, each KIND:ZONE: spamhaus-zen:ZONE and spamhaus-dbl:ZONE with "
                   "Spamhaus's return codes, ip:ZONE (client and link addresses) or domain:ZONE "
                   "(link domains) where any 127.0.0.0/8 answer lists; none by default. "
                   "KIND:ZONE=SCORE gives every listing of the zone that score."},
    KeySpec{.path = "spam.dnsbl.score",
            .type = Type::kString,
            .default_value = "3.0",
            .doc = "Score of a listing in an ip: or domain: zone."},
    KeySpec{.path = "spam.dnsbl.reject",
            .type = Type::kString,
            .default_value = "1.5",
            .doc = "The dnsbl stage refuses a client whose listings in the IP zones add up to at "
                   "least this; a client listed for less is served, and spam-score counts its "
                   "listings at DATA."},
    KeySpec{.path = "spam.dnsbl.timeout",
            .type = Type::kDuration,
            .default_value = "2s",
            .doc = "Time for all the blocklist lookups of one message together; what has not "
                   "answered by then does not count."},
    KeySpec{.path = "spam.llm.enabled",
            .type = Type::kBool,
            .default_value = "false",
            .doc = "Ask an OpenAI-compatible chat-completions endpoint to classify each message "
                   "(adds LLM_SPAM, LLM_PHISHING, LLM_MALWARE, LLM_SCAM or LLM_HAM)."},
    KeySpec{.path = "spam.llm.url",
            .type = Type::kString,
            .default_value = "",
            .doc = "Base URL of the API, e.g. https://api.example.com/v1 (POST URL/chat/completions)."},
    KeySpec{.path = "spam.llm.model",
            .type = Type::kString,
            .default_value = "",
            .doc = "The model name sent with each request."},
    KeySpec{.path = "spam.llm.api_key",
            .type = Type::kString,
            .default_value = "",
            .doc = "Bearer token, best given as ${env:NAME} or ${file:PATH}; empty: none sent."},
    KeySpec{.path = "spam.llm.prompt",
            .type = Type::kString,
            .default_value = "",
            .doc = "System prompt (empty: the built-in one); {marker} names the line that bounds "
                   "the message."},
    KeySpec{.path = "spam.llm.timeout",
            .type = Type::kDuration,
            .default_value = "8s",
            .doc = "Time for one request; a message whose request times out is scored without it."},
    KeySpec{.path = "spam.llm.max_body_chars",
            .type = Type::kInt,
            .default_value = "6000",
            .doc = "Bytes of body text sent (cut at a character boundary)."},
    KeySpec{.path = "spam.pyzor.servers",
            .type = Type::kList,
            .default_value = "[]",
            .doc = "Pyzor servers (host:port) asked for each message's digest, the first that "
                   "answers counts (none by default; the public one is public.pyzor.org:24441)."},
    KeySpec{.path = "spam.pyzor.min_count",
            .type = Type::kInt,
            .default_value = "5",
            .doc = "Reports of a digest from which it adds PYZOR_CHECK (unless whitelisted 10 "
                   "times or more)."},
    KeySpec{.path = "spam.pyzor.score",
            .type = Type::kString,
            .default_value = "2.0",
            .doc = "Score of PYZOR_CHECK."},
    KeySpec{.path = "spam.pyzor.timeout",
            .type = Type::kDuration,
            .default_value = "3s",
            .doc = "How long each server may take to answer; no answer adds nothing."},
    KeySpec{.path = "spam.greylist.delay",
            .type = Type::kDuration,
            .default_value = "5m",
            .doc = "Greylist builtin (RFC 6647): how long a new (client network, sender, "
                   "recipient) triplet is deferred with 451 4.7.1."},
    KeySpec{.path = "spam.greylist.retry_window",
            .type = Type::kDuration,
            .default_value = "2d",
            .doc = "A retry later than this after the first attempt is deferred again as new."},
    KeySpec{.path = "spam.greylist.expire",
            .type = Type::kDuration,
            .default_value = "35d",
            .doc = "A triplet that passed is remembered until it has not been seen for this "
                   "long."},
    KeySpec{.path = "spam.greylist.auto_allow",
            .type = Type::kInt,
            .default_value = "5",
            .doc = "After this many triplets of one client network passed, the network is no "
                   "longer greylisted (0: never)."},
    KeySpec{.path = "mta_sts.mode",
            .type = Type::kEnum,
            .default_value = "testing",
            .doc = "Mode of the MTA-STS policy our domains publish (RFC 8461 5): enforce (senders "
                   "refuse unauthenticated TLS to our MX), testing (they only report) or none; "
                   "see postern-dns(8).",
            .values = "enforce|testing|none"},
    KeySpec{.path = "mta_sts.max_age",
            .type = Type::kDuration,
            .default_value = "7d",
            .doc = "max_age of our published MTA-STS policy: how long senders cache it "
                   "(RFC 8461 3.2; at most 365 days)."},
    KeySpec{.path = "dmarc.policy",
            .type = Type::kEnum,
            .default_value = "quarantine",
            .doc = "p= of the DMARC record postern-dns(8) tells our domains to publish "
                   "(RFC 7489 6.3): what receivers do with mail that fails DMARC.",
            .values = "none|quarantine|reject"},
    KeySpec{.path = "dmarc.report_address",
            .type = Type::kString,
            .default_value = "",
            .doc = "Where receivers send DMARC aggregate reports: the rua=mailto: of the "
                   "published DMARC record.",
            .default_doc = "postmaster@ and the domain"},
    KeySpec{.path = "listeners",
            .type = Type::kTable,
            .default_value = "[]",
            .doc = "Sockets the supervisor binds and hands to the services."},
    KeySpec{.path = "listeners[].name",
            .type = Type::kString,
            .default_value = "",
            .doc = "Name of the socket, unique, passed to the service in LISTEN_FDNAMES.",
            .required = true,
            .unique = true},
    KeySpec{.path = "listeners[].address",
            .type = Type::kHostPort,
            .default_value = "",
            .doc = "Address and port to bind, e.g. 0.0.0.0:25 or [::]:993; for mode local a "
                   "Unix socket, unix:/run/postern/submit.sock.",
            .required = true},
    KeySpec{.path = "listeners[].mode",
            .type = Type::kEnum,
            .default_value = "",
            .doc = "Protocol served on the socket (mx: SMTP from other servers, submission: "
                   "STARTTLS on 587, submissions: TLS on 465, local: postern-sendmail's Unix "
                   "socket, imaps: TLS on 993).",
            .values = kListenerModes,
            .required = true},
    KeySpec{.path = "include",
            .type = Type::kPath,
            .default_value = "",
            .doc = "A directory (relative to this file) whose *.yaml files, in sorted order, "
                   "are merged into this one; or a single file. Only in the main file.",
            .default_doc = "none"},
};

std::string join_values(std::string_view values, std::string_view sep) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t bar = values.find('|', start);
    out += values.substr(start, bar - start);
    if (bar == std::string_view::npos) break;
    out += sep;
    start = bar + 1;
  }
  return out;
}

}  // namespace

// scdoc treats * and _ as formatting and \ as an escape.
std::string scdoc_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::span<const KeySpec> schema() { return kSchema; }

const KeySpec* find_spec(std::string_view path) {
  for (const KeySpec& s : kSchema) {
    if (s.path == path) return &s;
  }
  return nullptr;
}

std::string type_name(Type type, Type item) {
  switch (type) {
    case Type::kString:
      return "string";
    case Type::kInt:
      return "integer";
    case Type::kBool:
      return "bool";
    case Type::kDuration:
      return "duration";
    case Type::kSize:
      return "size";
    case Type::kHostPort:
      return "host:port";
    case Type::kPath:
      return "path";
    case Type::kEnum:
      return "enum";
    case Type::kList:
      return "list of " + type_name(item, Type::kString);
    case Type::kTable:
      return "list of mappings";
  }
  return "?";
}

std::string type_description(const KeySpec& spec) {
  switch (spec.type) {
    case Type::kString:
      return "a string";
    case Type::kInt:
      return "an integer";
    case Type::kBool:
      return "true or false";
    case Type::kDuration:
      return "a duration like 30s, 5m, 4h or 5d";
    case Type::kSize:
      return "a size like 512K, 10M or 1G";
    case Type::kHostPort:
      return "host:port";
    case Type::kPath:
      return "a path";
    case Type::kEnum:
      return "one of " + join_values(spec.values, ", ");
    case Type::kList:
      return "a list of " + type_name(spec.item, Type::kString) + " values";
    case Type::kTable:
      return "a list of mappings";
  }
  return "?";
}

}  // namespace postern::config::internal

namespace postern::config {

using internal::KeySpec;
using internal::Type;

std::string schema_scdoc() {
  std::string out;
  out +=
      "postern.yaml(5)\n\n"
      "# NAME\n\n"
      "postern.yaml - configuration of the Postern mail server\n\n"
      "# DESCRIPTION\n\n"
      "One YAML file configures every Postern program; each reads the keys it needs. "
      "Give it with *-c* _FILE_; override single keys with *--set* _key=value_ "
      "(repeatable, applied in order after the file and its includes; the value is a YAML "
      "scalar or flow value such as *[a, b]*).\n\n"
      "Unknown keys and keys given twice are errors. *postern check* reports every error "
      "at once as _file:line:col: message_; programs exit 78 on a bad configuration.\n\n"
      "# SUBSTITUTION\n\n"
      "In any value, *${env:*_NAME_*}* is replaced by the environment variable _NAME_ "
      "(an error if unset), *${file:*_PATH_*}* by the contents of _PATH_ with one trailing "
      "newline removed (relative to the directory of the file that uses it; an error if "
      "unreadable), and *$$* by a single *$*. Any other *$* is kept as written.\n\n"
      "# INCLUDE\n\n"
      "*include:* _DIR_ merges every *\\*.yaml* file of _DIR_ (relative to the main file), "
      "in sorted order, into the main file. Mappings merge recursively; a key defined in "
      "two files is an error naming both places.\n\n"
      "# TYPES\n\n"
      "[[ *type*\n"
      ":[ *written as*\n"
      "|  string\n"
      ":  any scalar\n"
      "|  path\n"
      ":  a file name; relative names are relative to the directory of the file that sets "
      "them (to the working directory for *--set*)\n"
      "|  duration\n"
      ":  number and unit s, m, h or d, several may follow each other: 30s, 5m, 1h30m, 5d\n"
      "|  size\n"
      ":  bytes, or a number with K, M, G or T (KB, KiB...; powers of 1024): 512K, 35MB\n"
      "|  host:port\n"
      ":  127.0.0.1:25, mail.example.org:25, [::1]:993\n"
      "|  bool\n"
      ":  true or false\n"
      "|  enum\n"
      ":  one of the listed words\n\n"
      "# KEYS\n\n";
  for (const KeySpec& s : internal::schema()) {
    out += "*" + internal::scdoc_escape(s.path) + "* (" +
           internal::scdoc_escape(internal::type_name(s.type, s.item));
    if (s.type == Type::kEnum)
      out += ": " + internal::scdoc_escape(internal::join_values(s.values, ", "));
    out += ")\n";
    out += "\t" + internal::scdoc_escape(s.doc) + "\n";
    if (s.required) {
      out += "\tRequired.\n";
    } else if (!s.default_doc.empty()) {
      out += "\tDefault: " + internal::scdoc_escape(s.default_doc) + ".\n";
    } else if (s.default_value.empty()) {
      out += "\tDefault: empty.\n";
    } else {
      out += "\tDefault: *" + internal::scdoc_escape(s.default_value) + "*.\n";
    }
    out += "\n";
  }
  out +=
      "# EXAMPLE\n\n"
      "```\n"
      "server:\n"
      "  hostname: mail.example.org\n"
      "log:\n"
      "  level: info\n"
      "listeners:\n"
      "  - name: mx\n"
      "    address: 0.0.0.0:25\n"
      "    mode: mx\n"
      "include: conf.d/\n"
      "```\n\n"
      "# SEE ALSO\n\n"
      "*postern*(7)\n";
  return out;
}

}  // namespace postern::config
