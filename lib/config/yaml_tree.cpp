// Builds config::internal::Node trees from yaml-cpp's event stream.
//
// yaml-cpp 0.7's YAML::Load keeps both pairs of a duplicated key (node["k"] answers the
// first, iteration shows both) and gives no error. Building our own tree from the
// parser's events lets us report duplicates with exact marks, keep every key's and
// value's position, and expand aliases ourselves.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <sstream>

#include "config/internal.h"

namespace postern::config::internal {

const Node* Node::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k.scalar == key) return &v;
  }
  return nullptr;
}

Node* Node::find(std::string_view key) {
  for (auto& [k, v] : entries) {
    if (k.scalar == key) return &v;
  }
  return nullptr;
}

namespace {

class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(const std::string& file, const std::string& dir, bool positions,
              std::vector<Diagnostic>* diags)
      : file_(file), dir_(dir), positions_(positions), diags_(diags) {}

  Node take_root() { return std::move(root_); }
  int documents() const { return documents_; }
  const Loc& last_document() const { return doc_loc_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents_;
    doc_loc_ = loc(mark);
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node n;
    n.kind = Node::Kind::kNull;
    n.loc = loc(mark);
    finish(std::move(n), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    Node n = it == anchors_.end() ? Node{} : it->second;
    n.loc = loc(mark);
    finish(std::move(n), 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Node n;
    n.kind = Node::Kind::kScalar;
    n.loc = loc(mark);
    n.scalar = value;
    finish(std::move(n), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value style) override {
    start(Node::Kind::kSeq, mark, anchor);
  }
  void OnSequenceEnd() override { end(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value style) override {
    start(Node::Kind::kMap, mark, anchor);
  }
  void OnMapEnd() override { end(); }

 private:
  struct Frame {
    Node node;
    YAML::anchor_t anchor = 0;
    std::string path;  // dotted path of this container, for messages
    bool have_key = false;
    Node key;
  };

  Loc loc(const YAML::Mark& mark) const {
    Loc l{file_, dir_, 0, 0};
    if (positions_) {
      l.line = mark.line + 1;
      l.col = mark.column + 1;
    }
    return l;
  }

  std::string child_path() const {
    if (stack_.empty()) return "";
    const Frame& f = stack_.back();
    if (f.node.kind == Node::Kind::kSeq) {
      return f.path + "[" + std::to_string(f.node.items.size()) + "]";
    }
    return f.path.empty() ? f.key.scalar : f.path + "." + f.key.scalar;
  }

  void start(Node::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    Frame f;
    f.node.kind = kind;
    f.node.loc = loc(mark);
    f.anchor = anchor;
    f.path = child_path();
    stack_.push_back(std::move(f));
  }

  void end() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    finish(std::move(f.node), f.anchor);
  }

  void finish(Node n, YAML::anchor_t anchor) {
    if (anchor != 0) anchors_[anchor] = n;
    if (stack_.empty()) {
      root_ = std::move(n);
      return;
    }
    Frame& f = stack_.back();
    if (f.node.kind == Node::Kind::kSeq) {
      f.node.items.push_back(std::move(n));
      return;
    }
    if (!f.have_key) {
      if (n.kind != Node::Kind::kScalar) {
        diags_->push_back(diag(n.loc, "mapping keys must be plain strings"));
        n.kind = Node::Kind::kScalar;
        n.scalar = "?";
        n.items.clear();
        n.entries.clear();
      }
      f.key = std::move(n);
      f.have_key = true;
      return;
    }
    f.have_key = false;
    // An empty value (`key:`) is marked where the next token starts; point at the key.
    if (n.kind == Node::Kind::kNull && n.loc.line != f.key.loc.line) n.loc = f.key.loc;
    for (const auto& [k, v] : f.node.entries) {
      if (k.scalar == f.key.scalar) {
        std::string name = f.path.empty() ? f.key.scalar : f.path + "." + f.key.scalar;
        diags_->push_back(diag(
            f.key.loc, "duplicate key " + name + " (first defined at " + loc_str(k.loc) + ")"));
        return;
      }
    }
    f.node.entries.push_back({std::move(f.key), std::move(n)});
  }

  std::string file_;
  std::string dir_;
  bool positions_;
  std::vector<Diagnostic>* diags_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Node> anchors_;
  Node root_;
  int documents_ = 0;
  Loc doc_loc_;
};

}  // namespace

Node parse_yaml(std::string_view text, const std::string& file, const std::string& dir,
                bool positions, std::vector<Diagnostic>* diags) {
  std::istringstream in{std::string(text)};
  TreeBuilder builder(file, dir, positions, diags);
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(builder);
    if (parser.HandleNextDocument(builder)) {
      diags->push_back(
          diag(builder.last_document(), "only one YAML document is allowed (found a second one)"));
    }
  } catch (const YAML::Exception& e) {
    Loc l{file, dir, 0, 0};
    if (positions && e.mark.line >= 0) {
      l.line = e.mark.line + 1;
      l.col = e.mark.column + 1;
    }
    diags->push_back(diag(l, "YAML syntax error: " + e.msg));
    return Node{};
  }
  return builder.take_root();
}

}  // namespace postern::config::internal
