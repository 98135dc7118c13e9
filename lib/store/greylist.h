// Greylisting state (RFC 6647) in the store's greylist table (schema version 6): one row
// per (client network, sender, recipient) triplet with when it was first seen, last seen
// and let through, and one row per client network ("client <net>") counting its passed
// triplets for automatic allowing. Several smtp-listen processes on one database share it.
//
//   store::greylist::Policy p{.delay = 300, .retry_window = 172800, .expire = 3024000};
//   auto a = store::greylist::check(store, "192.0.2.0/24", "a@b.example", "c@d.example", p, now);
//   if (a && !a->pass) reply("451 4.7.1 ... try again in " + a->wait + " s");
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "store/store.h"

namespace postern::store::greylist {

struct Policy {
  int64_t delay = 300;          // seconds before a retry passes
  int64_t retry_window = 172800;  // a retry later than this after the first is a first again
  int64_t expire = 3024000;     // a passed triplet not seen for this long is forgotten
  int64_t auto_allow = 5;       // passes after which the client network always passes (0 never)
};

struct Answer {
  bool pass = false;
  bool allowed_client = false;  // passed because the client network is auto-allowed
  int64_t wait = 0;             // when deferred: seconds until a retry passes
};

// Records the attempt and decides, in one transaction. `network` is the client's network
// as text ("192.0.2.0/24"); sender and recipient are compared as given (lower-case them).
base::Result<Answer> check(Store& store, const std::string& network, const std::string& sender,
                           const std::string& recipient, const Policy& policy, int64_t now);

// Removes triplets not seen since `now - expire` (passed ones) or `now - retry_window`
// (never passed), and client rows not seen for `expire`. Returns how many rows went.
base::Result<int64_t> sweep(Store& store, const Policy& policy, int64_t now);

}  // namespace postern::store::greylist
