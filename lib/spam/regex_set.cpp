// RegexSet: Hyperscan database (serialized to a cache directory) plus PCRE2-JIT patterns.
#include "spam/regex_set.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <openssl/evp.h>
#include <pcre2.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "base/fs.h"

namespace postern::spam {

using base::Error;

struct RegexSet::Pcre {
  uint32_t id = 0;
  pcre2_code* code = nullptr;
  ~Pcre() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

bool non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

unsigned hs_flags(const RegexSet::Pattern& p, bool utf8) {
  unsigned f = HS_FLAG_SINGLEMATCH;
  for (char c : p.flags) {
    if (c == 'i') f |= HS_FLAG_CASELESS;
    if (c == 's') f |= HS_FLAG_DOTALL;
    if (c == 'm') f |= HS_FLAG_MULTILINE;
  }
  if (utf8 && non_ascii(p.regex)) f |= HS_FLAG_UTF8 | HS_FLAG_UCP;
  return f;
}

base::Result<std::unique_ptr<RegexSet::Pcre>> pcre_compile(const RegexSet::Pattern& p, uint32_t id,
                                                           bool utf8) {
  uint32_t opts = 0;
  for (char c : p.flags) {
    if (c == 'i') opts |= PCRE2_CASELESS;
    if (c == 's') opts |= PCRE2_DOTALL;
    if (c == 'm') opts |= PCRE2_MULTILINE;
  }
  if (utf8) opts |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.regex.data()), p.regex.size(),
                                   opts, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    return Error::config("regular expression /" + p.regex + "/: " +
                         reinterpret_cast<const char*>(buf) + " at offset " + std::to_string(off));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // without JIT it still matches, slower
  auto out = std::make_unique<RegexSet::Pcre>();
  out->id = id;
  out->code = code;
  return out;
}

std::string cache_key(const std::vector<RegexSet::Pattern>& pats, const std::vector<unsigned>& flags) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::string v = hs_version();
  EVP_DigestUpdate(ctx, v.data(), v.size() + 1);
  for (size_t i = 0; i < pats.size(); ++i) {
    std::string f = std::to_string(flags[i]) + ":";
    EVP_DigestUpdate(ctx, f.data(), f.size());
    EVP_DigestUpdate(ctx, pats[i].regex.data(), pats[i].regex.size() + 1);
  }
  unsigned char md[32];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 16; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

int on_hs_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  (*static_cast<std::vector<uint8_t>*>(ctx))[id] = 1;
  return 0;
}

// Cached sets in `dir` other than `keep` (the one just written) that no process has
// loaded for kCacheKeep: left by rule files since changed. A set in use is touched at
// each load, so only abandoned ones age.
constexpr auto kCacheKeep = std::chrono::hours(24 * 30);

void sweep_cache(const std::string& dir, const std::string& keep) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - kCacheKeep;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    bool ours = name.starts_with("hs-") && (name.ends_with(".db") || name.ends_with(".db.pcre"));
    if (!ours || it->path().string().starts_with(keep)) continue;
    std::error_code e2;
    auto t = fs::last_write_time(it->path(), e2);
    if (!e2 && t < cutoff) fs::remove(it->path(), e2);
  }
}

void touch(const std::string& path) {
  std::error_code ec;
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ec);
}

}  // namespace

base::Result<std::shared_ptr<const RegexSet>> RegexSet::compile(std::vector<Pattern> patterns,
                                                                const RegexOptions& o) {
  std::shared_ptr<RegexSet> set(new RegexSet());
  set->count_ = patterns.size();
  std::vector<uint32_t> to_pcre;
  if (o.engine == RegexEngine::kPcre2) {
    for (uint32_t i = 0; i < patterns.size(); ++i) to_pcre.push_back(i);
  } else if (!patterns.empty()) {
    std::vector<uint32_t> ids;
    std::vector<unsigned> all_flags;
    for (uint32_t i = 0; i < patterns.size(); ++i) {
      ids.push_back(i);
      all_flags.push_back(hs_flags(patterns[i], o.utf8));
    }
    // The cache holds the database and, beside it, which patterns went to PCRE2.
    std::string path =
        o.cache_dir.empty() ? "" : o.cache_dir + "/hs-" + cache_key(patterns, all_flags) + ".db";
    bool cached = false;
    if (!path.empty()) {
      auto bytes = base::real_fs().read(path);
      auto rest = base::real_fs().read(path + ".pcre");
      hs_database_t* db = nullptr;
      if (bytes && rest &&
          hs_deserialize_database(bytes->data(), bytes->size(), &db) == HS_SUCCESS) {
        set->db_ = db;
        set->from_cache_ = cached = true;
        touch(path);
        touch(path + ".pcre");
        size_t at = 0;
        while (at < rest->size()) {
          size_t nl = rest->find('\n', at);
          if (nl == std::string::npos) nl = rest->size();
          if (nl > at) to_pcre.push_back(static_cast<uint32_t>(std::stoul(rest->substr(at, nl - at))));
          at = nl + 1;
        }
        for (uint32_t id : ids) {
          if (std::find(to_pcre.begin(), to_pcre.end(), id) == to_pcre.end()) {
            set->hs_ids_.push_back(id);
          }
        }
      }
    }
    // Leave what Hyperscan refuses to PCRE2, one pattern at a time.
    while (!cached && !ids.empty()) {
      std::vector<const char*> exprs;
      std::vector<unsigned> flags;
      for (uint32_t id : ids) {
        exprs.push_back(patterns[id].regex.c_str());
        flags.push_back(all_flags[id]);
      }
      hs_database_t* db = nullptr;
      hs_compile_error_t* err = nullptr;
      if (hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                           static_cast<unsigned>(ids.size()), HS_MODE_BLOCK, nullptr, &db,
                           &err) == HS_SUCCESS) {
        set->db_ = db;
        set->hs_ids_ = ids;
        break;
      }
      int bad = err ? err->expression : -1;
      std::string what = err && err->message ? err->message : "unknown error";
      hs_free_compile_error(err);
      if (bad < 0 || static_cast<size_t>(bad) >= ids.size()) {
        return Error::config("hyperscan: " + what);
      }
      to_pcre.push_back(ids[bad]);
      ids.erase(ids.begin() + bad);
    }
    if (!cached && !path.empty()) {
      char* ser = nullptr;
      size_t len = 0;
      if (set->db_ && hs_serialize_database(static_cast<hs_database_t*>(set->db_), &ser, &len) ==
                          HS_SUCCESS) {
        std::error_code ec;
        std::filesystem::create_directories(o.cache_dir, ec);
        std::string rest;
        for (uint32_t id : to_pcre) rest += std::to_string(id) + "\n";
        // A cache that cannot be written only costs the next process a compile.
        (void)base::write_file_atomic(base::real_fs(), path + ".pcre", rest);
        (void)base::write_file_atomic(base::real_fs(), path, std::string_view(ser, len));
        std::free(ser);
        sweep_cache(o.cache_dir, path);
      }
    }
  }
  std::sort(to_pcre.begin(), to_pcre.end());
  for (uint32_t id : to_pcre) {
    auto p = pcre_compile(patterns[id], id, o.utf8);
    if (!p) return p.error();
    set->pcre_.push_back(std::move(*p));
  }
  return std::shared_ptr<const RegexSet>(std::move(set));
}

RegexSet::~RegexSet() {
  if (db_) hs_free_database(static_cast<hs_database_t*>(db_));
}

RegexSet::Scratch::Scratch(const RegexSet& set) {
  if (set.db_) {
    hs_scratch_t* s = nullptr;
    if (hs_alloc_scratch(static_cast<hs_database_t*>(set.db_), &s) == HS_SUCCESS) hs_ = s;
  }
  match_ = pcre2_match_data_create(1, nullptr);
}

RegexSet::Scratch::~Scratch() {
  if (hs_) hs_free_scratch(static_cast<hs_scratch_t*>(hs_));
  if (match_) pcre2_match_data_free(static_cast<pcre2_match_data*>(match_));
}

void RegexSet::scan_into(std::string_view text, Scratch& s, std::vector<uint8_t>& hits) const {
  hits.resize(std::max(hits.size(), count_), 0);
  if (db_ && s.hs_) {
    hs_scan(static_cast<hs_database_t*>(db_), text.data(), static_cast<unsigned>(text.size()), 0,
            static_cast<hs_scratch_t*>(s.hs_), on_hs_match, &hits);
  }
  for (const auto& p : pcre_) {
    if (hits[p->id]) continue;
    int rc = pcre2_match(p->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                         static_cast<pcre2_match_data*>(s.match_), nullptr);
    if (rc >= 0) hits[p->id] = 1;
  }
}

std::vector<uint32_t> RegexSet::scan(std::string_view text, Scratch& s) const {
  std::vector<uint8_t> hits;
  scan_into(text, s, hits);
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < hits.size(); ++i) {
    if (hits[i]) out.push_back(i);
  }
  return out;
}

}  // namespace postern::spam
