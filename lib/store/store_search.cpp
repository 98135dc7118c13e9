// The search index: what deliver() extracts from a message's header, the search rows the
// deferred indexer (index_pending) writes, the two normal forms of text, and search() on
// both engines.
//
// Matching is defined here, in C++, so both engines agree byte for byte:
//   substring  the needle's NFKC_Casefold form occurs in the field's NFKC_Casefold form
//              (case-insensitive, "Grüße" finds "GRÜSSE"; accents are significant)
//   words      every word of the value occurs as a whole word in the field; words are
//              maximal runs of letters, digits and combining marks of the case-folded
//              text with non-spacing marks (accents) removed, so "meeting" does not
//              match "meetings" and "cafe" matches "Café"
// The engines' full-text indexes (FTS5 trigram/unicode61, pg_trgm/tsvector) only narrow
// the candidates; every candidate is re-checked against the stored normal forms
// (instr/strpos/LIKE), so an index's own tokenization never changes a result.
#include <algorithm>
#include <set>
#include <unordered_set>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include "mail/charset.h"
#include "mail/header.h"
#include "mail/message.h"
#include "store/store_internal.h"

namespace postern::store::internal {

using base::Error;
using base::Result;

namespace {

constexpr size_t kMaxBodyText = 8 * 1024 * 1024;
constexpr size_t kMaxHeaderText = 1024 * 1024;
constexpr size_t kMaxHeaderValue = 64 * 1024;

// Cuts at a UTF-8 character boundary at most `max` bytes in.
std::string cut(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  s.resize(n);
  return s;
}

bool word_char(UChar32 c) {
  return (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_N_MASK | U_GC_MC_MASK | U_GC_ME_MASK)) != 0;
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

}  // namespace

std::string clean_text(std::string_view s) {
  std::string out = mail::sanitize_utf8(s);
  out.erase(std::remove(out.begin(), out.end(), '\0'), out.end());
  return out;
}

std::string fold(std::string_view s) {
  std::string clean = clean_text(s);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKCCasefoldInstance(status);
  if (U_FAILURE(status)) return mail::to_lower(clean);
  // Straight from UTF-8 to UTF-8 (no UTF-16 round trip); the normalizer skips spans that
  // are already normalized (plain lower-case ASCII) by itself.
  std::string out;
  out.reserve(clean.size());
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(clean.size()));
  n->normalizeUTF8(0, icu::StringPiece(clean.data(), static_cast<int32_t>(clean.size())), sink,
                   nullptr, status);
  if (U_FAILURE(status)) return mail::to_lower(clean);
  return out;
}

std::vector<std::string> words_of(std::string_view folded) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  std::vector<std::string> out;
  if (U_FAILURE(status)) return out;
  // The words of NFD(folded) with non-spacing marks dropped, each word put back in NFC.
  // NFD is computed piecewise: every ASCII character is a starter that decomposes to
  // itself and never reorders or composes with its neighbours, so NFD(text) is the
  // concatenation of NFD over pieces that each start at an ASCII character (or the text's
  // start) and run up to the next one. A piece of one ASCII character is its own NFD and
  // is handled without ICU; so is the NFC of a word of ASCII characters only.
  std::string word;
  bool ascii_word = true;
  auto flush = [&] {
    if (word.empty()) return;
    if (ascii_word) {
      out.push_back(std::move(word));
    } else {
      std::string composed;
      icu::StringByteSink<std::string> sink(&composed, static_cast<int32_t>(word.size()));
      UErrorCode s2 = U_ZERO_ERROR;
      nfc->normalizeUTF8(0, icu::StringPiece(word.data(), static_cast<int32_t>(word.size())), sink,
                         nullptr, s2);
      out.push_back(U_SUCCESS(s2) ? std::move(composed) : std::move(word));
    }
    word.clear();
    ascii_word = true;
  };
  auto ascii = [&](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      word += c;
    } else {
      flush();
    }
  };
  std::string piece_nfd;
  const size_t n = folded.size();
  size_t i = 0;
  while (i < n) {
    size_t j = i + 1;
    if (static_cast<unsigned char>(folded[i]) < 0x80) {
      if (j >= n || static_cast<unsigned char>(folded[j]) < 0x80) {
        ascii(folded[i]);
        i = j;
        continue;
      }
    }
    while (j < n && static_cast<unsigned char>(folded[j]) >= 0x80) ++j;
    piece_nfd.clear();
    {
      icu::StringByteSink<std::string> sink(&piece_nfd, static_cast<int32_t>(2 * (j - i)));
      UErrorCode s2 = U_ZERO_ERROR;
      nfd->normalizeUTF8(0, icu::StringPiece(folded.data() + i, static_cast<int32_t>(j - i)), sink,
                         nullptr, s2);
      if (U_FAILURE(s2)) piece_nfd.assign(folded.substr(i, j - i));
    }
    const char* p = piece_nfd.data();
    const int32_t len = static_cast<int32_t>(piece_nfd.size());
    for (int32_t k = 0; k < len;) {
      int32_t start = k;
      UChar32 c;
      U8_NEXT(p, k, len, c);
      if (c < 0) c = 0xfffd;  // as fromUTF8 would have it
      if (c < 0x80) {
        ascii(static_cast<char>(c));
        continue;
      }
      if (u_charType(c) == U_NON_SPACING_MARK) continue;  // accents go
      if (word_char(c)) {
        word.append(p + start, static_cast<size_t>(k - start));
        ascii_word = false;
      } else {
        flush();
      }
    }
    i = j;
  }
  flush();
  return out;
}

std::string word_list(std::string_view folded, size_t cap) {
  auto words = words_of(folded);
  // Distinct first (a hash set: a long body repeats its words many times), then sorted.
  std::unordered_set<std::string_view> seen;
  std::vector<std::string_view> distinct;
  for (const auto& w : words) {
    if (seen.insert(w).second) distinct.push_back(w);
  }
  std::sort(distinct.begin(), distinct.end());
  std::string out;
  for (const auto& w : distinct) {
    if (out.size() + w.size() + 1 > cap) break;
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

namespace {

std::string format_addresses(std::string_view raw) {
  std::string out;
  for (const mail::Address& a : mail::parse_address_list(raw).flatten()) {
    std::string one;
    if (a.name && !a.name->empty()) one = *a.name;
    if (a.address) one += (one.empty() ? "" : " ") + ("<" + *a.address + ">");
    if (one.empty()) continue;
    if (!out.empty()) out += ", ";
    out += one;
  }
  return out;
}

}  // namespace

namespace {

// The header block, up to and including the empty line that ends it (all of `bytes` when
// there is no body).
std::string_view header_block(std::string_view bytes) {
  size_t p = 0;
  while (p < bytes.size()) {
    size_t nl = bytes.find('\n', p);
    if (nl == std::string_view::npos) break;
    if (nl == p || (nl == p + 1 && bytes[p] == '\r')) return bytes.substr(0, nl + 1);
    p = nl + 1;
  }
  return bytes;
}

void summarize(const mail::Message& msg, MessageSummary& out) {
  const mail::Part& root = msg.root();
  auto field = [&](std::string_view name) { return msg.header(root, name); };
  if (auto s = field("subject")) out.subject = clean_text(mail::decode_unstructured(*s));
  if (auto f = field("from")) out.from_text = clean_text(mail::decode_unstructured(*f));
  if (auto f = field("date")) {
    if (auto dt = mail::parse_date(*f)) out.sent_at = dt->to_unix();
  }
  if (auto f = field("message-id")) {
    auto ids = mail::parse_message_ids(*f);
    if (!ids.empty()) out.message_id = clean_text(ids.front());
  }
  std::set<std::string> seen;
  for (const char* name : {"in-reply-to", "references"}) {
    if (auto f = field(name)) {
      for (auto& id : mail::parse_message_ids(*f)) {
        std::string c = clean_text(id);
        if (!c.empty() && c != out.message_id && seen.insert(c).second) out.refs.push_back(c);
      }
    }
  }
  if (out.refs.size() > 100) out.refs.erase(out.refs.begin(), out.refs.end() - 100);
}

void add_header(IndexRows& rows, std::string name, std::string_view value) {
  std::string v = fold(value);
  std::string w = word_list(v, 64 * 1024);
  rows.headers.push_back({std::move(name), std::move(v), std::move(w)});
}

}  // namespace

MessageSummary summarize_message(std::string_view bytes) {
  MessageSummary out;
  auto msg = mail::Message::parse(std::string(header_block(bytes)));
  if (msg) summarize(*msg, out);
  return out;
}

IndexRows index_rows(std::string_view bytes) {
  std::array<std::string, 8> text;  // decoded, not yet folded
  IndexRows rows;
  auto msg = mail::Message::parse(std::string(bytes));
  if (!msg) {
    text[kColBody] = cut(clean_text(bytes), kMaxBodyText);
  } else {
    const mail::Part& root = msg->root();
    std::string header_text;
    for (const mail::HeaderField& f : msg->headers(root)) {
      std::string name = mail::to_lower(msg->field_name(root, f));
      std::string value =
          cut(clean_text(mail::decode_unstructured(msg->field_value(root, f))), kMaxHeaderValue);
      if (header_text.size() < kMaxHeaderText) header_text += name + ": " + value + "\n";
      add_header(rows, clean_text(name), value);
    }
    text[kColHeaders] = cut(std::move(header_text), kMaxHeaderText);
    auto field = [&](std::string_view name) { return msg->header(root, name); };
    if (auto s = field("subject")) text[kColSubject] = clean_text(mail::decode_unstructured(*s));
    if (auto f = field("from")) text[kColFrom] = clean_text(format_addresses(*f));
    if (auto f = field("to")) text[kColTo] = clean_text(format_addresses(*f));
    if (auto f = field("cc")) text[kColCc] = clean_text(format_addresses(*f));
    if (auto f = field("bcc")) text[kColBcc] = clean_text(format_addresses(*f));
    text[kColBody] = cut(clean_text(msg->extract_text()), kMaxBodyText);
    std::string names;
    for (uint32_t i : msg->attachments()) {
      std::string n = clean_text(msg->filename(msg->part(i)));
      if (n.empty()) continue;
      if (!names.empty()) names += '\n';
      names += n;
    }
    text[kColAttachments] = std::move(names);
  }
  for (size_t i = 0; i < text.size(); ++i) {
    rows.text[i] = fold(text[i]);
    rows.words[i] = word_list(rows.text[i]);
  }
  return rows;
}

base::Status write_index(Db& tx, Id email, Id account, const IndexRows& rows) {
  for (const char* sql : {"DELETE FROM email_text WHERE email_id = ?",
                          "DELETE FROM email_words WHERE email_id = ?",
                          "DELETE FROM email_header WHERE email_id = ?"}) {
    POSTERN_TRY(tx.exec(sql, {Value(email)}));
  }
  for (const char* table : {"email_text", "email_words"}) {
    const auto& cols = std::string_view(table) == "email_text" ? rows.text : rows.words;
    Params p{Value(email), Value(account)};
    for (const auto& c : cols) p.emplace_back(c);
    POSTERN_TRY(tx.exec(std::string("INSERT INTO ") + table +
                            " (email_id, account_id, header_text, body, subject, from_addr, "
                            "to_addr, cc_addr, bcc_addr, attachments) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        p));
  }
  for (size_t i = 0; i < rows.headers.size(); ++i) {
    POSTERN_TRY(tx.exec(
        "INSERT INTO email_header (email_id, account_id, pos, name, value, words) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        {Value(email), Value(account), Value(static_cast<int64_t>(i)), Value(rows.headers[i][0]),
         Value(rows.headers[i][1]), Value(rows.headers[i][2])}));
  }
  return {};
}

// ---- deferred indexing ----

Result<size_t> StoreImpl::pending_count(std::optional<Id> account) {
  auto rows = account ? db_->query("SELECT count(*) FROM email_pending WHERE account_id = ?",
                                   {Value(*account)})
                      : db_->query("SELECT count(*) FROM email_pending");
  if (!rows) return rows.error();
  return rows->empty() ? 0 : static_cast<size_t>((*rows)[0].i64(0));
}

Result<size_t> StoreImpl::index_pending(std::optional<Id> account, size_t max) {
  // A batch: at most kBatch emails or about kBatchBytes of message, read and indexed outside
  // the transaction; the transaction claims each email (DELETE ... RETURNING), so two
  // indexers racing write each email's rows once.
  constexpr size_t kBatch = 200;
  constexpr size_t kBatchBytes = 32 * 1024 * 1024;
  size_t done = 0, indexed = 0;  // read, and written by us
  while (done < max) {
    std::string sql =
        "SELECT p.email_id, p.account_id, e.blob_id FROM email_pending p "
        "JOIN email e ON e.id = p.email_id";
    Params params;
    if (account) {
      sql += " WHERE p.account_id = ?";
      params.emplace_back(*account);
    }
    const size_t want = std::min(kBatch, max - done);
    sql += " ORDER BY p.email_id LIMIT " + std::to_string(want);
    auto queued = db_->query(sql, params);
    if (!queued) return queued.error();
    if (queued->empty()) break;
    struct Item {
      Id email, account;
      IndexRows rows;
    };
    std::vector<Item> items;
    size_t bytes = 0;
    for (const Row& r : *queued) {
      if (bytes >= kBatchBytes) break;
      auto message = blobs_->get(r.str(2));
      if (!message) {
        auto present = blobs_->exists(r.str(2));
        if (!present || *present) {
          return message.error().with_context("indexing email " + std::to_string(r.i64(0)));
        }
      }
      bytes += message ? message->size() : 0;
      items.push_back({r.i64(0), r.i64(1), index_rows(message ? *message : std::string())});
    }
    size_t claimed = 0;
    auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> base::Status {
      claimed = 0;  // a retried transaction starts over
      for (const Item& it : items) {
        auto mine = tx.query(
            "DELETE FROM email_pending WHERE account_id = ? AND email_id = ? RETURNING email_id",
            {Value(it.account), Value(it.email)});
        if (!mine) return mine.error();
        if (mine->empty()) continue;  // indexed by someone else, or destroyed
        POSTERN_TRY(write_index(tx, it.email, it.account, it.rows));
        ++claimed;
      }
      return {};
    });
    if (!st) return st.error();
    indexed += claimed;
    done += items.size();
    if (queued->size() < want) break;
  }
  return indexed;
}

// ---- search ----

namespace {

std::vector<int> columns_of(TextField f) {
  switch (f) {
    case TextField::kText:
      return {kColHeaders, kColBody};
    case TextField::kBody:
      return {kColBody};
    case TextField::kSubject:
      return {kColSubject};
    case TextField::kFrom:
      return {kColFrom};
    case TextField::kTo:
      return {kColTo};
    case TextField::kCc:
      return {kColCc};
    case TextField::kBcc:
      return {kColBcc};
    case TextField::kAttachmentName:
      return {kColAttachments};
    case TextField::kHeader:
      return {};
  }
  return {};
}

// FTS5 column filter "{a b}".
std::string fts_columns(const std::vector<int>& cols) {
  std::string out = "{";
  for (size_t i = 0; i < cols.size(); ++i) {
    if (i > 0) out += ' ';
    out += kSearchColumns[cols[i]];
  }
  return out + "}";
}

std::string fts_phrase(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

std::string like_pattern(std::string_view s) {
  std::string out = "%";
  for (char c : s) {
    if (c == '%' || c == '_' || c == '!') out += '!';
    out += c;
  }
  return out + "%";
}

struct Builder {
  Engine engine;
  Id account;
  std::string sql;
  Params params;

  const char* position() const { return engine == Engine::kSqlite ? "instr" : "strpos"; }

  void substring(const TextCondition& c) {
    std::string needle = fold(c.value);
    if (c.field == TextField::kHeader) {
      sql += " AND EXISTS (SELECT 1 FROM email_header h WHERE h.email_id = e.id AND h.name = ?";
      params.emplace_back(mail::to_lower(c.header));
      if (!needle.empty()) {
        sql += std::string(" AND ") + position() + "(h.value, ?) > 0";
        params.emplace_back(needle);
      }
      sql += ")";
      return;
    }
    if (needle.empty()) return;
    auto cols = columns_of(c.field);
    if (engine == Engine::kSqlite && code_points(needle) >= 3) {
      sql += " AND e.id IN (SELECT rowid FROM email_text_fts WHERE email_text_fts MATCH ?)";
      params.emplace_back(fts_columns(cols) + " : " + fts_phrase(needle));
      return;
    }
    if (engine == Engine::kSqlite) {
      // Shorter than a trigram: a scan of the account's rows.
      sql += " AND EXISTS (SELECT 1 FROM email_text t WHERE t.email_id = e.id AND (";
      for (size_t i = 0; i < cols.size(); ++i) {
        if (i > 0) sql += " OR ";
        sql += std::string("instr(t.") + kSearchColumns[cols[i]] + ", ?) > 0";
        params.emplace_back(needle);
      }
      sql += "))";
      return;
    }
    // PostgreSQL: LIKE on the folded text, served by the gin_trgm_ops indexes (needles
    // shorter than a trigram scan).
    sql += " AND e.id IN (SELECT t.email_id FROM email_text t WHERE t.account_id = ? AND (";
    params.emplace_back(account);
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i > 0) sql += " OR ";
      sql += std::string("t.") + kSearchColumns[cols[i]] + " LIKE ? ESCAPE '!'";
      params.emplace_back(like_pattern(needle));
    }
    sql += "))";
  }

  void words(const TextCondition& c) {
    auto list = words_of(fold(c.value));
    std::set<std::string> distinct(list.begin(), list.end());
    if (c.field == TextField::kHeader) {
      sql += " AND EXISTS (SELECT 1 FROM email_header h WHERE h.email_id = e.id AND h.name = ?";
      params.emplace_back(mail::to_lower(c.header));
      for (const auto& w : distinct) {
        sql += std::string(" AND ") + position() + "(' ' || h.words || ' ', ?) > 0";
        params.emplace_back(" " + w + " ");
      }
      sql += ")";
      return;
    }
    if (distinct.empty()) return;
    auto cols = columns_of(c.field);
    std::string recheck;
    Params recheck_params;
    for (const auto& w : distinct) {
      recheck += " AND (";
      for (size_t i = 0; i < cols.size(); ++i) {
        if (i > 0) recheck += " OR ";
        recheck +=
            std::string(position()) + "(' ' || w." + kSearchColumns[cols[i]] + " || ' ', ?) > 0";
        recheck_params.emplace_back(" " + w + " ");
      }
      recheck += ")";
    }
    if (engine == Engine::kSqlite) {
      std::string match;
      for (const auto& w : distinct) {
        if (!match.empty()) match += " AND ";
        match += fts_columns(cols) + " : " + fts_phrase(w);
      }
      sql += " AND e.id IN (SELECT rowid FROM email_words_fts WHERE email_words_fts MATCH ?)";
      params.emplace_back(match);
      sql += " AND EXISTS (SELECT 1 FROM email_words w WHERE w.email_id = e.id" + recheck + ")";
    } else {
      sql += " AND e.id IN (SELECT w.email_id FROM email_words w WHERE w.account_id = ?";
      params.emplace_back(account);
      for (const auto& w : distinct) {
        sql += " AND (";
        for (size_t i = 0; i < cols.size(); ++i) {
          if (i > 0) sql += " OR ";
          sql += std::string("to_tsvector('simple', w.") + kSearchColumns[cols[i]] +
                 ") @@ plainto_tsquery('simple', ?)";
          params.emplace_back(w);
        }
        sql += ")";
      }
      sql += recheck + ")";
    }
    params.insert(params.end(), recheck_params.begin(), recheck_params.end());
  }
};

}  // namespace

Result<std::vector<Id>> StoreImpl::search(Id account, std::optional<Id> mailbox,
                                          const std::vector<TextCondition>& all_of) {
  if (auto n = index_pending(account, SIZE_MAX); !n) return n.error();
  Builder b{
      db_->engine(), account, "SELECT e.id FROM email e WHERE e.account_id = ?", {Value(account)}};
  if (mailbox) {
    b.sql += " AND EXISTS (SELECT 1 FROM member mm WHERE mm.email_id = e.id AND mm.mailbox_id = ?)";
    b.params.emplace_back(*mailbox);
  }
  for (const TextCondition& c : all_of) {
    if (c.match == TextMatch::kWords) {
      b.words(c);
    } else {
      b.substring(c);
    }
  }
  b.sql += " ORDER BY e.id";
  auto rows = db_->query(b.sql, b.params);
  if (!rows) return rows.error();
  std::vector<Id> out;
  out.reserve(rows->size());
  for (const Row& r : *rows) out.push_back(r.i64(0));
  return out;
}

}  // namespace postern::store::internal
