// Many regular expressions matched against one text in one pass.
//
// Two engines: Hyperscan (the default; every pattern of a set compiled into one database,
// scanned once per text) and PCRE2 with its JIT (each pattern in turn). Patterns Hyperscan
// cannot take (back-references, look-around) go to PCRE2 within a Hyperscan set. The
// compiled Hyperscan database is cached in a directory under the hash of the patterns,
// so a process starting with an unchanged rule set deserializes instead of compiling.
//
//   auto set = RegexSet::compile({{"v[i1]agra", "i"}, {"^Subject: .*!!!", "m"}}, {});
//   RegexSet::Scratch s(*set);        // one per thread
//   std::vector<uint32_t> hits = set->scan("Buy VIAGRA now", s);   // {0}
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::spam {

enum class RegexEngine { kHyperscan, kPcre2 };

struct RegexOptions {
  RegexEngine engine = RegexEngine::kHyperscan;
  std::string cache_dir;  // "" = no cache
  bool utf8 = true;       // inputs are valid UTF-8 (false for raw message bytes)
};

class RegexSet {
 public:
  struct Pattern {
    std::string regex;
    std::string flags;  // any of "i" (caseless), "s" (dot matches newline), "m" (multiline)
  };

  // Fails (bad_config) naming the first pattern neither engine accepts.
  static base::Result<std::shared_ptr<const RegexSet>> compile(std::vector<Pattern> patterns,
                                                               const RegexOptions& options);
  ~RegexSet();

  // Per-thread matching state.
  class Scratch {
   public:
    explicit Scratch(const RegexSet& set);
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

   private:
    friend class RegexSet;
    void* hs_ = nullptr;     // hs_scratch_t
    void* match_ = nullptr;  // pcre2_match_data
  };

  // Indexes of the patterns that match somewhere in `text`, ascending, each once.
  std::vector<uint32_t> scan(std::string_view text, Scratch& scratch) const;
  // Adds to `hits` (a flag per pattern), without clearing it first.
  void scan_into(std::string_view text, Scratch& scratch, std::vector<uint8_t>& hits) const;

  struct Pcre;  // one PCRE2 pattern (regex_set.cpp)

  size_t size() const { return count_; }
  size_t pcre2_count() const { return pcre_.size(); }  // patterns Hyperscan left to PCRE2
  bool from_cache() const { return from_cache_; }

 private:
  RegexSet() = default;
  size_t count_ = 0;
  void* db_ = nullptr;  // hs_database_t
  std::vector<uint32_t> hs_ids_;
  std::vector<std::unique_ptr<Pcre>> pcre_;
  bool from_cache_ = false;
};

}  // namespace postern::spam
