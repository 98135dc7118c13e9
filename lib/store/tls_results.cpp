// TLS-RPT session counts in the store (tls_results.h; schema version 5, table tls_result).
#include "store/tls_results.h"

#include <algorithm>

namespace postern::store::tls_results {

namespace {

constexpr const char* kColumns =
    "day, policy_domain, policy_type, policy, mx_host, receiving_ip, result_type, reason, sessions";
constexpr const char* kOrder =
    " ORDER BY day, policy_domain, policy_type, policy, mx_host, receiving_ip, result_type, reason";

Row row_of(const store::Row& r) {
  Row out;
  out.day = r.i64(0);
  out.policy_domain = r.str(1);
  out.policy_type = r.str(2);
  out.policy = r.str(3);
  out.mx_host = r.str(4);
  out.receiving_ip = r.str(5);
  out.result_type = r.str(6);
  out.reason = r.str(7);
  out.sessions = r.i64(8);
  return out;
}

std::vector<Row> rows_of(const Rows& rows) {
  std::vector<Row> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(row_of(r));
  return out;
}

}  // namespace

int64_t day_of(int64_t t) {
  int64_t d = t / 86400;
  if (t < 0 && t % 86400 != 0) --d;
  return d * 86400;
}

base::Status add(Store& store, const std::vector<Row>& rows) {
  if (rows.empty()) return {};
  return with_transaction(store.db(), Access::kWrite, [&](Db& tx) -> base::Status {
    for (const Row& r : rows) {
      auto n = tx.exec(
          std::string("INSERT INTO tls_result (") + kColumns +
              ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
              "ON CONFLICT (day, policy_domain, policy_type, policy, mx_host, receiving_ip, "
              "result_type, reason) DO UPDATE SET sessions = tls_result.sessions + excluded.sessions",
          {Value(r.day), Value(r.policy_domain), Value(r.policy_type), Value(r.policy),
           Value(r.mx_host), Value(r.receiving_ip), Value(r.result_type), Value(r.reason),
           Value(r.sessions)});
      if (!n) return n.error();
    }
    return {};
  });
}

base::Result<std::vector<Due>> due(Store& store, int64_t before_day) {
  std::vector<Due> out;
  auto st = with_transaction(store.db(), Access::kRead, [&](Db& tx) -> base::Status {
    out.clear();
    auto rows = before_day > 0
                    ? tx.query("SELECT DISTINCT day, policy_domain FROM tls_result WHERE day < ? "
                               "ORDER BY day, policy_domain",
                               {Value(before_day)})
                    : tx.query("SELECT DISTINCT day, policy_domain FROM tls_result "
                               "ORDER BY day, policy_domain");
    if (!rows) return rows.error();
    for (const auto& r : *rows) out.push_back({r.i64(0), r.str(1)});
    return {};
  });
  if (!st) return st.error();
  return out;
}

base::Result<std::vector<Row>> list(Store& store, int64_t day, const std::string& domain) {
  std::vector<Row> out;
  auto st = with_transaction(store.db(), Access::kRead, [&](Db& tx) -> base::Status {
    std::string sql = std::string("SELECT ") + kColumns +
                      " FROM tls_result WHERE (? = 0 OR day = ?) AND (? = '' OR policy_domain = ?)";
    Params p{Value(day), Value(day), Value(domain), Value(domain)};
    auto rows = tx.query(sql + kOrder, p);
    if (!rows) return rows.error();
    out = rows_of(*rows);
    return {};
  });
  if (!st) return st.error();
  return out;
}

base::Result<std::vector<Row>> take_in(Db& tx, int64_t day, const std::string& domain) {
  // DELETE ... RETURNING: on PostgreSQL a second taker waits for the first one's row
  // locks and then finds nothing; on SQLite the write transaction serializes them.
  auto rows = tx.query(std::string("DELETE FROM tls_result WHERE day = ? AND policy_domain = ? RETURNING ") +
                           kColumns,
                       {Value(day), Value(domain)});
  if (!rows) return rows.error();
  std::vector<Row> out = rows_of(*rows);
  std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) {
    return std::tie(a.policy_type, a.policy, a.mx_host, a.receiving_ip, a.result_type, a.reason) <
           std::tie(b.policy_type, b.policy, b.mx_host, b.receiving_ip, b.result_type, b.reason);
  });
  return out;
}

base::Result<std::vector<Row>> take(Store& store, int64_t day, const std::string& domain) {
  std::vector<Row> out;
  auto st = with_transaction(store.db(), Access::kWrite, [&](Db& tx) -> base::Status {
    auto got = take_in(tx, day, domain);
    if (!got) return got.error();
    out = std::move(*got);
    return {};
  });
  if (!st) return st.error();
  return out;
}

}  // namespace postern::store::tls_results
