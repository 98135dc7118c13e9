#include "dns/dns.h"

#include <cctype>

#include "dns/zone_resolver.h"

namespace postern::dns {
namespace {

struct TypeName {
  RrType type;
  std::string_view name;
};
constexpr TypeName kTypes[] = {
    {RrType::kA, "A"},     {RrType::kNs, "NS"},   {RrType::kCname, "CNAME"},
    {RrType::kSoa, "SOA"}, {RrType::kPtr, "PTR"}, {RrType::kMx, "MX"},
    {RrType::kTxt, "TXT"}, {RrType::kAaaa, "AAAA"}, {RrType::kTlsa, "TLSA"},
};

}  // namespace

std::string_view type_name(RrType t) {
  for (const auto& e : kTypes) {
    if (e.type == t) return e.name;
  }
  return "?";
}

std::optional<RrType> parse_type(std::string_view s) {
  for (const auto& e : kTypes) {
    if (e.name.size() != s.size()) continue;
    bool same = true;
    for (size_t i = 0; i < s.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(s[i])) != e.name[i]) same = false;
    }
    if (same) return e.type;
  }
  return std::nullopt;
}

std::string_view status_name(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kNoData: return "nodata";
    case Status::kNxDomain: return "nxdomain";
    case Status::kServFail: return "servfail";
    case Status::kTimeout: return "timeout";
  }
  return "servfail";
}

base::Callback<Answer> Resolver::lookup(std::string name, RrType type) {
  return base::Callback<Answer>(
      [this, name = std::move(name), type](std::function<void(Answer)> done) {
        query(name, type, std::move(done));
      });
}

base::Result<std::unique_ptr<Resolver>> make_resolver(const ResolverOptions& options) {
  if (options.spec.rfind("file:", 0) == 0) {
    auto z = ZoneResolver::load(options.spec.substr(5));
    if (!z) return z.error();
    return std::unique_ptr<Resolver>(std::move(*z));
  }
  if (options.spec.empty() || options.spec == "system") {
    return make_network_resolver(options);
  }
  return base::Error::usage("unknown resolver '" + options.spec +
                            "' (expected system or file:PATH)");
}

}  // namespace postern::dns
