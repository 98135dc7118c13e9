// The authentication record: one JSON line per message that `auth-check --record FILE`
// appends, carrying exactly what a DMARC aggregate report (RFC 7489 7.2, Appendix C)
// needs about that message. `dmarc-report` reads these files. The format is documented
// in auth-check(1) (section RECORD FORMAT); this header is its single definition.
//
//   auth::Record r;
//   r.time = 1700000000; r.reporter = "mx.example.net"; r.source_ip = "192.0.2.1"; ...
//   std::string line = auth::record_to_json(r);          // one line, "\n"-terminated
//   auto back = auth::record_from_json(line);             // Result<Record>
//
// One line looks like (wrapped here):
//   {"v":1,"time":1700000000,"reporter":"mx.example.net","source_ip":"192.0.2.1",
//    "helo":"mail.example.org","envelope_from":"example.org","envelope_to":"example.net",
//    "header_from":"example.org",
//    "spf":{"result":"pass","domain":"example.org","scope":"mfrom"},
//    "dkim":[{"domain":"example.org","selector":"s1","result":"pass","human_result":""}],
//    "arc":"none",
//    "dmarc":{"result":"pass","disposition":"none","dkim_aligned":true,"spf_aligned":true,
//             "reasons":[],"record_domain":"example.org",
//             "policy":{"domain":"example.org","p":"reject","sp":"reject","np":"",
//                       "pct":100,"adkim":"r","aspf":"r","fo":"0","ri":86400,
//                       "rua":["mailto:dmarc@example.org"]}}}
// "policy" is null when no DMARC record was found (result none, temperror or permerror
// before a record was read).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::auth {

inline constexpr int kRecordVersion = 1;

// RFC 7489 Appendix C DKIMAuthResultType.
struct RecordDkim {
  std::string domain;    // d=
  std::string selector;  // s=
  std::string result;    // none pass fail policy neutral temperror permerror
  std::string human_result;
};

// RFC 7489 Appendix C PolicyOverrideReason: type is one of forwarded, sampled_out,
// trusted_forwarder, mailing_list, local_policy, other.
struct RecordReason {
  std::string type;
  std::string comment;
};

// RFC 7489 Appendix C PolicyPublishedType, as the record was found (plus np, ri, rua).
struct RecordPolicy {
  std::string domain;  // where the record was found
  std::string p;       // none quarantine reject
  std::string sp;      // "" when absent
  std::string np;      // RFC 9091; "" when absent
  int pct = 100;
  std::string adkim = "r";  // r or s
  std::string aspf = "r";
  std::string fo = "0";
  uint32_t ri = 86400;
  std::vector<std::string> rua;  // as published (with any !size suffix)
};

struct Record {
  int version = kRecordVersion;
  int64_t time = 0;           // Unix seconds when the message was evaluated
  std::string reporter;       // our authserv-id
  std::string source_ip;      // the SMTP client
  std::string helo;           // its HELO/EHLO name
  std::string envelope_from;  // RFC5321.MailFrom domain ("" for the null sender)
  std::string envelope_to;    // RFC5321.RcptTo domain of the first recipient, when known
  std::string header_from;    // RFC5322.From domain ("" when none could be found)
  std::string spf_result;     // none neutral pass fail softfail temperror permerror
  std::string spf_domain;     // the domain SPF checked
  std::string spf_scope = "mfrom";  // mfrom or helo
  std::vector<RecordDkim> dkim;     // one per DKIM-Signature, top to bottom
  std::string arc = "none";         // ARC chain: none pass fail
  std::string dmarc_result;         // none pass fail temperror permerror
  std::string disposition = "none";  // the policy applied: none quarantine reject
  bool dkim_aligned = false;
  bool spf_aligned = false;
  std::vector<RecordReason> reasons;  // why the disposition differs from the policy
  std::optional<RecordPolicy> policy;
};

// The record as a JSON object (what tools print with --json, plus their own members).
boost::json::object record_to_object(const Record& record);
// One line of compact JSON ending in "\n".
std::string record_to_json(const Record& record);
// Parses one line (trailing white space allowed). Unknown members are ignored (a newer
// writer may add some); a missing or newer "v", or missing required members
// ("time", "source_ip", "dmarc"), is a data error naming the problem.
base::Result<Record> record_from_json(std::string_view line);

}  // namespace postern::auth
