// MTA-STS policies kept in the store (the mta_sts_policy table, schema 4).
#include "dns/zone_resolver.h"
#include "smtp/mta_sts.h"
#include "store/store.h"

namespace postern::smtp::mta_sts {

std::optional<CachedPolicy> StorePolicyCache::get(const std::string& domain) {
  if (auto hit = front_.get(domain)) return hit;
  const std::string d = dns::normalize_name(domain);
  auto rows = store_.db().query("SELECT policy_id, policy, fetched_at, expires_at FROM mta_sts_policy WHERE domain = ?",
                                {store::Value(d)});
  if (!rows || rows->empty()) return std::nullopt;
  const store::Row& r = rows->front();
  auto policy = parse_policy(r.str(1));
  if (!policy) return std::nullopt;  // written by us, so only a newer parser's quarrel
  CachedPolicy c{std::move(*policy), r.str(0), r.i64(2)};
  front_.put(d, c);
  return c;
}

void StorePolicyCache::put(const std::string& domain, CachedPolicy policy) {
  const std::string d = dns::normalize_name(domain);
  (void)store_.db().exec(
      "INSERT INTO mta_sts_policy (domain, policy_id, policy, fetched_at, expires_at) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy, "
      "fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
      {store::Value(d), store::Value(policy.id), store::Value(policy.policy.text), store::Value(policy.fetched),
       store::Value(policy.expires())});
  front_.put(d, std::move(policy));
}

}  // namespace postern::smtp::mta_sts
