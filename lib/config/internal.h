// lib/config internals shared by its .cpp files: the parsed YAML tree with source
// positions, and the schema table. Not for use outside lib/config.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace postern::config::internal {

// Where a node came from. line == 0: no position (a --set value, a default).
struct Loc {
  std::string file;  // as shown in diagnostics
  std::string dir;   // base for relative paths and ${file:...}; "" = working directory
  int line = 0;
  int col = 0;
};

inline Diagnostic diag(const Loc& loc, std::string message) {
  return {loc.file, loc.line, loc.col, std::move(message)};
}
// "file:line:col", or "file" without a position.
inline std::string loc_str(const Loc& loc) {
  if (loc.line <= 0) return loc.file;
  return loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

struct MapEntry;

// A YAML node. Keys of mappings are scalars; aliases are expanded into copies.
struct Node {
  enum class Kind { kNull, kScalar, kSeq, kMap };
  Kind kind = Kind::kNull;
  Loc loc;
  std::string scalar;
  std::vector<Node> items;        // kSeq
  std::vector<MapEntry> entries;  // kMap, in document order

  const Node* find(std::string_view key) const;
  Node* find(std::string_view key);
};

struct MapEntry {
  Node key;  // a scalar
  Node value;
};

// Parses one YAML document. Syntax errors and duplicate keys go to *diags (a
// duplicate keeps the first value). With positions == false every Loc gets line 0.
Node parse_yaml(std::string_view text, const std::string& file, const std::string& dir,
                bool positions, std::vector<Diagnostic>* diags);

// ---- the schema ----

enum class Type {
  kString,
  kInt,
  kBool,
  kDuration,
  kSize,
  kHostPort,
  kPath,
  kEnum,
  kList,   // sequence of scalars of type `item`
  kTable,  // sequence of mappings; fields are the keys "<path>[].<field>"
};

struct KeySpec {
  std::string_view path;  // "log.level"; fields of a table: "listeners[].mode"
  Type type;
  std::string_view default_value;     // as YAML text; may use ${<key>} and ${sys:hostname}
  std::string_view doc;               // one line
  std::string_view values = {};       // kEnum: "a|b|c"
  Type item = Type::kString;          // kList: type of each element
  bool required = false;              // no default; missing → error
  bool unique = false;                // table fields: no two items share the value
  std::string_view default_doc = {};  // shown instead of default_value in the docs
};

std::span<const KeySpec> schema();
const KeySpec* find_spec(std::string_view path);
// "one of a, b, c", "a duration like 30s, 5m, 4h or 5d", ...
std::string type_description(const KeySpec& spec);
std::string type_name(Type type, Type item);
// Text for an scdoc page: *, _ and \ escaped.
std::string scdoc_escape(std::string_view s);

}  // namespace postern::config::internal
