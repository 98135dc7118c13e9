// Meta expressions: a recursive-descent parser over || && ! comparison + - and numbers.
#include "spam/rules.h"

#include <cctype>

namespace postern::spam {

struct MetaExpr::Node {
  enum Op { kNum, kRule, kNot, kAnd, kOr, kAdd, kSub, kGe, kGt, kLe, kLt, kEq, kNe } op = kNum;
  double num = 0;
  size_t rule = 0;
  std::shared_ptr<const Node> a, b;
};

namespace {

using Node = MetaExpr::Node;
using NodeP = std::shared_ptr<const Node>;

struct Parser {
  const std::string& s;
  const std::map<std::string, size_t>& names;
  std::vector<size_t>& deps;
  size_t i = 0;
  std::string error;

  void ws() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool eat(const char* t) {
    ws();
    size_t n = std::char_traits<char>::length(t);
    if (s.compare(i, n, t) == 0) {
      i += n;
      return true;
    }
    return false;
  }
  NodeP make(Node::Op op, NodeP a, NodeP b) {
    auto n = std::make_shared<Node>();
    n->op = op;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  NodeP fail(const std::string& m) {
    if (error.empty()) error = m + " at offset " + std::to_string(i);
    return nullptr;
  }
  NodeP or_expr() {
    NodeP l = and_expr();
    while (l && eat("||")) {
      NodeP r = and_expr();
      if (!r) return nullptr;
      l = make(Node::kOr, l, r);
    }
    return l;
  }
  NodeP and_expr() {
    NodeP l = cmp_expr();
    while (l && eat("&&")) {
      NodeP r = cmp_expr();
      if (!r) return nullptr;
      l = make(Node::kAnd, l, r);
    }
    return l;
  }
  NodeP cmp_expr() {
    NodeP l = add_expr();
    if (!l) return nullptr;
    static const std::pair<const char*, Node::Op> ops[] = {
        {">=", Node::kGe}, {"<=", Node::kLe}, {"==", Node::kEq},
        {"!=", Node::kNe}, {">", Node::kGt},  {"<", Node::kLt}};
    for (auto& [t, op] : ops) {
      if (eat(t)) {
        NodeP r = add_expr();
        if (!r) return nullptr;
        return make(op, l, r);
      }
    }
    return l;
  }
  NodeP add_expr() {
    NodeP l = unary();
    while (l) {
      ws();
      if (i < s.size() && s[i] == '+') {
        ++i;
        NodeP r = unary();
        if (!r) return nullptr;
        l = make(Node::kAdd, l, r);
      } else if (i < s.size() && s[i] == '-') {
        ++i;
        NodeP r = unary();
        if (!r) return nullptr;
        l = make(Node::kSub, l, r);
      } else {
        break;
      }
    }
    return l;
  }
  NodeP unary() {
    ws();
    if (i < s.size() && s[i] == '!' && (i + 1 >= s.size() || s[i + 1] != '=')) {
      ++i;
      NodeP a = unary();
      if (!a) return nullptr;
      return make(Node::kNot, a, nullptr);
    }
    if (eat("(")) {
      NodeP e = or_expr();
      if (!e) return nullptr;
      if (!eat(")")) return fail("')' expected");
      return e;
    }
    ws();
    if (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
      size_t st = i;
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
      auto n = std::make_shared<Node>();
      n->op = Node::kNum;
      n->num = std::stod(s.substr(st, i - st));
      return n;
    }
    size_t st = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    if (i == st) return fail("a rule name, number, '!' or '(' expected");
    std::string name = s.substr(st, i - st);
    auto it = names.find(name);
    if (it == names.end()) return fail("unknown rule " + name);
    auto n = std::make_shared<Node>();
    n->op = Node::kRule;
    n->rule = it->second;
    deps.push_back(it->second);
    return n;
  }
};

double eval_node(const Node& n, const std::vector<uint8_t>& f) {
  switch (n.op) {
    case Node::kNum: return n.num;
    case Node::kRule: return n.rule < f.size() && f[n.rule] ? 1 : 0;
    case Node::kNot: return eval_node(*n.a, f) == 0 ? 1 : 0;
    case Node::kAnd: return eval_node(*n.a, f) != 0 && eval_node(*n.b, f) != 0 ? 1 : 0;
    case Node::kOr: return eval_node(*n.a, f) != 0 || eval_node(*n.b, f) != 0 ? 1 : 0;
    case Node::kAdd: return eval_node(*n.a, f) + eval_node(*n.b, f);
    case Node::kSub: return eval_node(*n.a, f) - eval_node(*n.b, f);
    case Node::kGe: return eval_node(*n.a, f) >= eval_node(*n.b, f) ? 1 : 0;
    case Node::kGt: return eval_node(*n.a, f) > eval_node(*n.b, f) ? 1 : 0;
    case Node::kLe: return eval_node(*n.a, f) <= eval_node(*n.b, f) ? 1 : 0;
    case Node::kLt: return eval_node(*n.a, f) < eval_node(*n.b, f) ? 1 : 0;
    case Node::kEq: return eval_node(*n.a, f) == eval_node(*n.b, f) ? 1 : 0;
    case Node::kNe: return eval_node(*n.a, f) != eval_node(*n.b, f) ? 1 : 0;
  }
  return 0;
}

}  // namespace

base::Result<MetaExpr> MetaExpr::parse(const std::string& text,
                                       const std::map<std::string, size_t>& names) {
  MetaExpr e;
  Parser p{text, names, e.deps_};
  NodeP root = p.or_expr();
  p.ws();
  if (root && p.i != text.size()) root = p.fail("unexpected '" + text.substr(p.i, 1) + "'");
  if (!root) return base::Error::config("meta expression \"" + text + "\": " + p.error);
  e.root_ = root;
  return e;
}

double MetaExpr::eval(const std::vector<uint8_t>& fired) const {
  return root_ ? eval_node(*root_, fired) : 0;
}

}  // namespace postern::spam
