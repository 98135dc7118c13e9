// The PostgreSQL engine of the SQL seam (db.h), over libpq.
//
// One PgDb is one connection. Statements arrive with `?` placeholders and are rewritten
// to $1..$n once, then prepared under a generated name and cached per connection by
// their original text. Parameters go as text (integers in decimal) or binary (Bytes, for
// bytea); results come back as text, bytea decoded from its hex form to raw bytes and
// booleans as "1"/"0" (the way SQLite stores them).
//
// A lost connection is retryable: inside a transaction every later statement fails
// (retryably) until rollback(), so a caller can never continue half a transaction in
// autocommit mode on a fresh connection; outside one, the next statement reconnects.
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/db_internal.h"

namespace postern::store::internal {
namespace {

constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
// Beyond this many cached statements a connection stops preparing new ones and runs
// them unnamed (store code with generated SQL must not grow the server's memory).
constexpr size_t kMaxPrepared = 256;

bool is_ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

// Rewrites `?` to $1..$n outside string literals ('...', E'...'), quoted identifiers
// ("..."), dollar-quoted strings ($tag$...$tag$) and comments (-- and /* */).
std::string number_placeholders(std::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  size_t i = 0;
  const size_t len = sql.size();
  while (i < len) {
    char c = sql[i];
    if (c == '?') {
      out += '$';
      out += std::to_string(++n);
      ++i;
    } else if (c == '\'') {
      // E'...' strings take backslash escapes; '' is a quote in both kinds.
      bool escapes = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                     (i < 2 || !is_ident_char(sql[i - 2]));
      size_t j = i + 1;
      while (j < len) {
        if (escapes && sql[j] == '\\' && j + 1 < len) {
          j += 2;
        } else if (sql[j] == '\'') {
          if (j + 1 < len && sql[j + 1] == '\'') {
            j += 2;
          } else {
            break;
          }
        } else {
          ++j;
        }
      }
      j = std::min(len, j + 1);
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < len) {
        if (sql[j] == '"') {
          if (j + 1 < len && sql[j + 1] == '"') {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      j = std::min(len, j + 1);
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
      size_t j = sql.find('\n', i);
      j = j == std::string_view::npos ? len : j;
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '/' && i + 1 < len && sql[i + 1] == '*') {
      // Comments nest in PostgreSQL.
      size_t j = i + 2;
      int depth = 1;
      while (j < len && depth > 0) {
        if (sql[j] == '/' && j + 1 < len && sql[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (sql[j] == '*' && j + 1 < len && sql[j + 1] == '/') {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      out.append(sql.substr(i, j - i));
      i = j;
    } else if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
      // $tag$ ... $tag$ (the tag may be empty; it never starts with a digit).
      size_t j = i + 1;
      while (j < len && is_ident_char(sql[j]) && !(j == i + 1 && sql[j] >= '0' && sql[j] <= '9')) {
        ++j;
      }
      if (j < len && sql[j] == '$') {
        std::string_view tag = sql.substr(i, j - i + 1);
        size_t end = sql.find(tag, j + 1);
        end = end == std::string_view::npos ? len : end + tag.size();
        out.append(sql.substr(i, end - i));
        i = end;
      } else {
        out += c;
        ++i;
      }
    } else {
      out += c;
      ++i;
    }
  }
  *count = n;
  return out;
}

// The password part of a postgresql:// URL's user info, or "".
std::string url_password(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  std::string_view authority = url.substr(start, end - start);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return "";
  std::string_view userinfo = authority.substr(0, at);
  size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return "";
  return std::string(userinfo.substr(colon + 1));
}

// A URL without the password in its user info or its query (?password=...).
std::string redact_url(const std::string& url) {
  std::string out = url;
  size_t scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  size_t start = scheme + 3;
  size_t end = out.find_first_of("/?#", start);
  if (end == std::string::npos) end = out.size();
  size_t at = out.rfind('@', end);
  if (at != std::string::npos && at >= start) {
    size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
  }
  size_t q = out.find('?');
  if (q == std::string::npos) return out;
  std::string query = out.substr(q + 1);
  std::string kept;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string item = query.substr(pos, amp - pos);
    if (!item.empty() && item.rfind("password=", 0) != 0 && item != "password") {
      if (!kept.empty()) kept += '&';
      kept += item;
    }
    pos = amp + 1;
  }
  out.erase(q);
  if (!kept.empty()) out += "?" + kept;
  return out;
}

bool is_url(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

// "key=value ..." rebuilt from libpq's parse without the password.
std::string redact_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err) PQfreemem(err);
  if (!opts) return "(unparsable PostgreSQL connection string)";
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val || std::strcmp(o->keyword, "password") == 0) continue;
    std::string v = o->val;
    bool quote = v.empty() || v.find_first_of(" \t'\\") != std::string::npos;
    if (!out.empty()) out += ' ';
    out += o->keyword;
    out += '=';
    if (quote) {
      out += '\'';
      for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      out += '\'';
    } else {
      out += v;
    }
  }
  PQconninfoFree(opts);
  return out;
}

std::string describe_conninfo(const std::string& conninfo) {
  return is_url(conninfo) ? redact_url(conninfo) : redact_conninfo(conninfo);
}

// Removes every occurrence of `secret` from a message.
std::string scrub(std::string msg, const std::string& secret) {
  if (secret.empty()) return msg;
  for (size_t p; (p = msg.find(secret)) != std::string::npos;) msg.replace(p, secret.size(), "***");
  return msg;
}

// One line for the log: libpq's multi-line messages joined, trailing newline dropped.
std::string trim(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') {
      while (i + 1 < s.size() && (s[i + 1] == '\t' || s[i + 1] == ' ' || s[i + 1] == '\n')) ++i;
      out += ' ';
    } else {
      out += s[i];
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea in text format: "\x0a1b..." (hex, the default) or the old escape format.
std::string decode_bytea(const char* text, int len) {
  if (len >= 2 && text[0] == '\\' && text[1] == 'x') {
    std::string out;
    out.reserve((len - 2) / 2);
    bool ok = true;
    for (int i = 2; i + 1 < len; i += 2) {
      int hi = hex_val(text[i]), lo = hex_val(text[i + 1]);
      if (hi < 0 || lo < 0) {
        ok = false;
        break;
      }
      out += static_cast<char>(hi << 4 | lo);
    }
    if (ok && len % 2 == 0) return out;
  }
  size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &n);
  if (!raw) return std::string(text, len);
  std::string out(reinterpret_cast<char*>(raw), n);
  PQfreemem(raw);
  return out;
}

void drop_notice(void*, const char*) {}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

class PgDb final : public Db {
 public:
  PgDb(PGconn* conn, std::string describe) : conn_(conn), describe_(std::move(describe)) {
    setup_session();
  }
  ~PgDb() override {
    if (in_tx_ && PQstatus(conn_) == CONNECTION_OK) ResultPtr(PQexec(conn_, "ROLLBACK"));
    PQfinish(conn_);
  }
  PgDb(const PgDb&) = delete;
  PgDb& operator=(const PgDb&) = delete;

  Engine engine() const override { return Engine::kPostgres; }
  std::string describe() const override { return describe_; }

  base::Result<Rows> query(std::string_view sql, const Params& params) override {
    auto res = run(sql, params);
    if (!res) return res.error();
    return to_rows(res->get());
  }

  base::Result<int64_t> exec(std::string_view sql, const Params& params) override {
    auto res = run(sql, params);
    if (!res) return res.error();
    const char* n = PQcmdTuples(res->get());
    return n && *n ? static_cast<int64_t>(std::strtoll(n, nullptr, 10)) : 0;
  }

  base::Status exec_script(std::string_view sql) override {
    if (auto st = ready(); !st) return st;
    std::string text(sql);
    ResultPtr res(PQexec(conn_, text.c_str()));
    if (auto st = check(res.get()); !st) return st.error();
    return {};
  }

  base::Status begin(Access access) override {
    if (in_tx_) return base::Error::internal("begin: a transaction is already open on " + describe_);
    if (auto st = ready(); !st) return st;
    ResultPtr res(PQexec(conn_, "BEGIN"));
    if (auto st = check(res.get()); !st) return st.error();
    in_tx_ = true;
    tx_lost_ = false;
    return {};
  }

  base::Status commit() override {
    if (!in_tx_) return base::Error::internal("commit without a transaction on " + describe_);
    if (tx_lost_) {
      in_tx_ = false;
      tx_lost_ = false;
      return busy_error("connection to " + describe_ + " lost during the transaction");
    }
    ResultPtr res(PQexec(conn_, "COMMIT"));
    auto st = check(res.get());
    // Whatever happened, the transaction is over (a failed COMMIT rolls back).
    in_tx_ = false;
    tx_lost_ = false;
    if (!st && PQstatus(conn_) != CONNECTION_OK) {
      // The connection died during COMMIT: the server may have committed before it went
      // (an immediate shutdown writes the commit record, then drops us). Not retryable —
      // running the transaction again could store it twice; the caller reports a
      // temporary failure and whoever retries later must expect it may be there already.
      return base::Error::temporary("the outcome of COMMIT on " + describe_ +
                                    " is unknown: " + st.error().message());
    }
    if (!st) return st.error();
    // COMMIT of a transaction that already failed succeeds and says ROLLBACK.
    if (std::strcmp(PQcmdStatus(res.get()), "ROLLBACK") == 0) {
      return base::Error::internal("commit: the transaction had failed and was rolled back");
    }
    return {};
  }

  void rollback() override {
    if (!in_tx_) return;
    in_tx_ = false;
    bool lost = tx_lost_;
    tx_lost_ = false;
    if (!lost && PQstatus(conn_) == CONNECTION_OK) ResultPtr(PQexec(conn_, "ROLLBACK"));
  }

  bool in_transaction() const override { return in_tx_; }

 private:
  struct Statement {
    std::string name;  // empty: not prepared (run unnamed)
    std::string text;  // with $n placeholders
    int nparams = 0;
  };

  // Session settings, after connecting and after every reconnect.
  void setup_session() {
    PQsetNoticeProcessor(conn_, drop_notice, nullptr);
    ResultPtr(PQexec(conn_, "SET client_min_messages = warning"));
  }

  // Ok when statements can run: reconnects outside a transaction; inside one whose
  // connection was lost, fails (retryably) until rollback().
  base::Status ready() {
    if (tx_lost_) {
      return busy_error("connection to " + describe_ + " lost during the transaction");
    }
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    if (in_tx_) {
      tx_lost_ = true;
      return busy_error("connection to " + describe_ + " lost during the transaction");
    }
    PQreset(conn_);
    statements_.clear();  // prepared statements died with the old session
    if (PQstatus(conn_) != CONNECTION_OK) {
      return busy_error("connection to " + describe_ + " lost: " +
                        trim(PQerrorMessage(conn_)));
    }
    setup_session();
    return {};
  }

  // Classifies a result: ok, busy (retryable), constraint, or internal.
  base::Status check(PGresult* res) {
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY) return {};
    std::string state;
    std::string msg;
    if (res) {
      const char* code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
      const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
      if (code) state = code;
      if (primary) msg = primary;
      if (detail) msg += std::string(" (") + detail + ")";
    }
    if (msg.empty()) msg = trim(PQerrorMessage(conn_));
    if (msg.empty()) msg = "unknown error";
    if (PQstatus(conn_) != CONNECTION_OK || state.rfind("08", 0) == 0 ||
        state == "57P01" || state == "57P02" || state == "57P03") {
      if (in_tx_) tx_lost_ = true;
      return busy_error("connection to " + describe_ + " lost: " + msg);
    }
    if (!state.empty()) msg += " [SQLSTATE " + state + "]";
    if (state == "40001" || state == "40P01" || state == "55P03") return busy_error(msg);
    if (state.rfind("23", 0) == 0) return constraint_error(msg);
    return base::Error::internal("PostgreSQL: " + msg);
  }

  // A statement's first run is unnamed (one round trip: parse, bind, execute); its second
  // prepares it, and later runs reuse the plan. A process that runs each statement once
  // (store-deliver) never pays the extra round trip of preparing.
  base::Result<const Statement*> statement(std::string_view sql) {
    std::string key(sql);
    auto it = statements_.find(key);
    if (it == statements_.end()) {
      Statement st;
      st.text = number_placeholders(sql, &st.nparams);
      if (statements_.size() >= kMaxPrepared) {
        unnamed_ = std::move(st);
        return &unnamed_;
      }
      return &statements_.emplace(std::move(key), std::move(st)).first->second;
    }
    Statement& st = it->second;
    if (st.name.empty()) {
      std::string name = "postern_" + std::to_string(++prepared_count_);
      ResultPtr res(PQprepare(conn_, name.c_str(), st.text.c_str(), 0, nullptr));
      if (auto ok = check(res.get()); !ok) return ok.error();
      st.name = std::move(name);
    }
    return &st;
  }

  base::Result<ResultPtr> run(std::string_view sql, const Params& params) {
    if (auto st = ready(); !st) return st.error();
    auto stmt = statement(sql);
    if (!stmt) return stmt.error();
    const Statement& s = **stmt;
    if (static_cast<size_t>(s.nparams) != params.size()) {
      return base::Error::internal("statement has " + std::to_string(s.nparams) +
                                   " placeholders but " + std::to_string(params.size()) +
                                   " parameters were given: " + std::string(sql));
    }
    std::vector<std::string> ints;
    ints.reserve(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    std::vector<int> lengths(params.size(), 0);
    std::vector<int> formats(params.size(), 0);
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& v = params[i].get();
      if (const auto* n = std::get_if<int64_t>(&v)) {
        ints.push_back(std::to_string(*n));
        values[i] = ints.back().c_str();
      } else if (const auto* t = std::get_if<std::string>(&v)) {
        values[i] = t->c_str();
      } else if (const auto* b = std::get_if<Bytes>(&v)) {
        values[i] = b->data.data();
        lengths[i] = static_cast<int>(b->data.size());
        formats[i] = 1;
      }
    }
    ResultPtr res(
        s.name.empty()
            ? PQexecParams(conn_, s.text.c_str(), s.nparams, nullptr, values.data(),
                           lengths.data(), formats.data(), 0)
            : PQexecPrepared(conn_, s.name.c_str(), s.nparams, values.data(), lengths.data(),
                             formats.data(), 0));
    if (auto st = check(res.get()); !st) {
      // A table changed under a cached plan ("cached plan must not change result type"):
      // forget the statement; outside a transaction run it once more, inside one the
      // caller retries the whole transaction.
      const char* code = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
      if (code && std::strcmp(code, "0A000") == 0 && !s.name.empty() && !replanned_) {
        std::string name = s.name;
        statements_.erase(std::string(sql));
        if (!in_tx_) {
          ResultPtr(PQexec(conn_, ("DEALLOCATE " + name).c_str()));
          replanned_ = true;
          auto again = run(sql, params);
          replanned_ = false;
          return again;
        }
        return busy_error(st.error().message());
      }
      return st.error();
    }
    return res;
  }

  static Rows to_rows(PGresult* res) {
    Rows rows;
    int nrows = PQntuples(res);
    int ncols = PQnfields(res);
    rows.reserve(nrows);
    std::vector<Oid> types(ncols);
    for (int c = 0; c < ncols; ++c) types[c] = PQftype(res, c);
    for (int r = 0; r < nrows; ++r) {
      std::vector<std::optional<std::string>> cols(ncols);
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(res, r, c)) continue;
        const char* v = PQgetvalue(res, r, c);
        int len = PQgetlength(res, r, c);
        if (types[c] == kByteaOid) {
          cols[c] = decode_bytea(v, len);
        } else if (types[c] == kBoolOid) {
          cols[c] = (len > 0 && v[0] == 't') ? "1" : "0";
        } else {
          cols[c] = std::string(v, len);
        }
      }
      rows.emplace_back(std::move(cols));
    }
    return rows;
  }

  PGconn* conn_;
  std::string describe_;
  bool in_tx_ = false;
  bool tx_lost_ = false;
  bool replanned_ = false;
  uint64_t prepared_count_ = 0;
  std::unordered_map<std::string, Statement> statements_;
  Statement unnamed_;
};

}  // namespace

base::Result<std::unique_ptr<Db>> open_postgres(const std::string& conninfo,
                                                const DbOptions& options) {
  std::string described = describe_conninfo(conninfo);
  std::string secret = is_url(conninfo) ? url_password(conninfo) : "";
  if (!is_url(conninfo)) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
    if (!opts) {
      std::string msg = err ? trim(err) : "malformed";
      if (err) PQfreemem(err);
      return base::Error::config("PostgreSQL connection string: " + msg);
    }
    for (PQconninfoOption* o = opts; o->keyword; ++o) {
      if (o->val && std::strcmp(o->keyword, "password") == 0) secret = o->val;
    }
    PQconninfoFree(opts);
  }
  // Ours come first so the caller's conninfo (expanded in place of dbname) overrides them.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* vals[] = {"10", "postern", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, vals, 1);
  if (!conn) return base::Error::unavailable("PostgreSQL: out of memory connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = scrub(trim(PQerrorMessage(conn)), secret);
    PQfinish(conn);
    return base::Error::unavailable("cannot connect to " + described + ": " + msg);
  }
  return std::unique_ptr<Db>(std::make_unique<PgDb>(conn, std::move(described)));
}

}  // namespace postern::store::internal

// The module's entry point, found by open_db() with dlsym (see db.cpp). C linkage, so the
// name is stable; the C++ types travel by pointer.
extern "C" __attribute__((visibility("default"))) int postern_pgsql_open(
    const std::string* conninfo, const postern::store::DbOptions* options,
    postern::base::Result<std::unique_ptr<postern::store::Db>>* out) {
  *out = postern::store::internal::open_postgres(*conninfo, *options);
  return *out ? 0 : 1;
}
