// Rule definitions (from the YAML rule files, built by lib/config) and meta expressions.
//
// A rule has a name, a score and one test:
//   header  a regex over the decoded values of one field ("Subject"), of one part of an
//           address field ("From:addr", "From:name"), or over every field ("ALL",
//           "Name: value" lines); `exists` instead tests presence
//   body    a regex over the text of the body (Subject first, HTML rendered to text)
//   raw     a regex over the message bytes as received
//   uri     a regex over each URL
//   check   a builtin check by name (see checks.h)
//   meta    a boolean/arithmetic expression over other rules' names:
//           "A && (B || !C)", "(A + B + C) >= 2"
// Names starting with "__" are sub-rules: they fire for metas but score nothing and are
// not reported.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace postern::spam {

struct RuleDef {
  enum class Kind { kHeader, kExists, kBody, kRaw, kUri, kCheck, kMeta };
  std::string name;
  Kind kind = Kind::kBody;
  std::string target;  // header: the field ("subject", "from:addr", "all"); check: its name
  std::string regex;   // header/body/raw/uri; meta: the expression
  std::string flags;   // "i", "s", "m"
  bool negate = false;  // header: fires when no value matches
  double score = 0;
  std::string description;
  std::string origin;  // "file:line" for messages
};

// A parsed meta expression.
class MetaExpr {
 public:
  // Fails (bad_config) on a syntax error or an unknown rule name.
  static base::Result<MetaExpr> parse(const std::string& text,
                                      const std::map<std::string, size_t>& names);
  // `fired` is indexed like `names`' values.
  double eval(const std::vector<uint8_t>& fired) const;
  const std::vector<size_t>& deps() const { return deps_; }

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::vector<size_t> deps_;
};

}  // namespace postern::spam
