// A Jinja engine for the subset chat templates use, rendering as Hugging Face's apply_chat_template
// does (jinja2 with trim_blocks, lstrip_blocks and loop controls; raise_exception, strftime_now and a
// tojson that keeps non-ASCII). Tested against python3-jinja2 on the published templates
// (tests/chat). Every string remembers which of its bytes came from the caller's data (messages)
// rather than from the template, so the tokenizer can refuse to read special tokens in them.
//
//   jinja::Template t(source);                  // throws jinja::Error (with line) on bad syntax
//   jinja::Str out = t.render(context);         // context: a dict Value; throws jinja::Error
#pragma once
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llmc::jinja {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Text plus, per byte, whether it came from data (1) or from the template (0).
struct Str {
  std::string text;
  std::string from_data;

  static Str literal(std::string s) { return {s, std::string(s.size(), '\0')}; }
  static Str data(std::string s) { return {s, std::string(s.size(), '\1')}; }
  void append(const Str& o) {
    text += o.text;
    from_data += o.from_data;
  }
  Str substr(size_t pos, size_t n = std::string::npos) const {
    if (pos > text.size()) pos = text.size();
    return {text.substr(pos, n), from_data.substr(pos, n)};
  }
  bool any_data() const { return from_data.find('\1') != std::string::npos; }
};

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python dicts

struct Args;
using Function = std::function<Value(Args&)>;

class Value {
 public:
  enum class Kind { undefined, none, boolean, integer, floating, string, list, dict, function };

  Value() = default;
  static Value none() { return Value(Kind::none); }
  Value(bool b) : kind_(Kind::boolean), i_(b) {}
  Value(int v) : kind_(Kind::integer), i_(v) {}
  Value(int64_t v) : kind_(Kind::integer), i_(v) {}
  Value(double v) : kind_(Kind::floating), f_(v) {}
  Value(Str s) : kind_(Kind::string), s_(std::make_shared<Str>(std::move(s))) {}
  Value(List l) : kind_(Kind::list), l_(std::make_shared<List>(std::move(l))) {}
  Value(Dict d, bool is_namespace = false)
      : kind_(Kind::dict), d_(std::make_shared<Dict>(std::move(d))), namespace_(is_namespace) {}
  Value(Function f) : kind_(Kind::function), fn_(std::make_shared<Function>(std::move(f))) {}
  static Value literal(std::string s) { return Value(Str::literal(std::move(s))); }

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_list() const { return kind_ == Kind::list; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::floating; }
  bool is_namespace() const { return namespace_; }
  bool boolean() const { return kind_ == Kind::boolean && i_; }
  int64_t integer() const {  // floats truncate, saturating (NaN: 0)
    if (kind_ != Kind::floating) return i_;
    if (!(f_ == f_)) return 0;
    return f_ >= 9.2e18 ? INT64_MAX : f_ <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(f_);
  }
  double number() const { return kind_ == Kind::floating ? f_ : static_cast<double>(i_); }
  const Str& str() const { return *s_; }
  const List& list() const { return *l_; }
  const Dict& dict() const { return *d_; }
  Dict& mutable_dict() { return *d_; }  // namespaces only
  const Function& function() const { return *fn_; }

  const Value* find(std::string_view key) const {
    if (!is_dict()) return nullptr;
    for (const auto& [k, v] : *d_)
      if (k == key) return &v;
    return nullptr;
  }
  void set(const std::string& key, Value v) {
    for (auto& [k, old] : *d_)
      if (k == key) {
        old = std::move(v);
        return;
      }
    d_->emplace_back(key, std::move(v));
  }

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_ = Kind::undefined;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<Str> s_;
  std::shared_ptr<List> l_;
  std::shared_ptr<Dict> d_;
  std::shared_ptr<Function> fn_;
  bool namespace_ = false;
};

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  // The argument at position i or called `name`, or fallback.
  Value get(size_t i, std::string_view name, Value fallback = Value()) const {
    for (const auto& [k, v] : named)
      if (k == name) return v;
    return i < positional.size() ? positional[i] : fallback;
  }
};

// ---------------------------------------------------------------------------------------------
// Python semantics of values: truth, str(), repr(), equality, json.dumps.

namespace detail {

inline bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined:
    case Value::Kind::none: return false;
    case Value::Kind::boolean: return v.boolean();
    case Value::Kind::integer: return v.integer() != 0;
    case Value::Kind::floating: return v.number() != 0.0;
    case Value::Kind::string: return !v.str().text.empty();
    case Value::Kind::list: return !v.list().empty();
    case Value::Kind::dict: return !v.dict().empty();
    case Value::Kind::function: return true;
  }
  return false;
}

// Python's repr(float): the shortest text that reads back, exponent outside [1e-4, 1e16).
inline std::string float_text(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  const double a = std::fabs(f);
  const bool sci = a != 0.0 && (a < 1e-4 || a >= 1e16);
  auto r = std::to_chars(buf, buf + sizeof buf, f, sci ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (sci) {  // Python writes e-05, e+16
    const size_t e = s.find('e');
    std::string mant = s.substr(0, e), exp = s.substr(e + 1);
    const char sign = exp[0] == '-' ? '-' : '+';
    if (exp[0] == '-' || exp[0] == '+') exp = exp.substr(1);
    while (exp.size() < 2) exp = "0" + exp;
    return mant + "e" + sign + exp;
  }
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

inline std::string repr(const Value& v);

inline std::string python_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return "";
    case Value::Kind::none: return "None";
    case Value::Kind::boolean: return v.boolean() ? "True" : "False";
    case Value::Kind::integer: return std::to_string(v.integer());
    case Value::Kind::floating: return float_text(v.number());
    case Value::Kind::string: return v.str().text;
    default: return repr(v);
  }
}

inline std::string repr_string(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out + q;
}

inline std::string repr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::string: return repr_string(v.str().text);
    case Value::Kind::list: {
      std::string out = "[";
      for (size_t i = 0; i < v.list().size(); ++i) out += (i ? ", " : "") + repr(v.list()[i]);
      return out + "]";
    }
    case Value::Kind::dict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict()) {
        out += (first ? "" : ", ") + repr_string(k) + ": " + repr(x);
        first = false;
      }
      return out + "}";
    }
    case Value::Kind::function: return "<function>";
    default: return python_str(v);
  }
}

// Python's json.dumps(v, ensure_ascii=False, indent=indent) (transformers' tojson).
inline void json_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

inline void to_json(const Value& v, int indent, int depth, std::string& out) {
  const auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind()) {
    case Value::Kind::undefined: throw Error("tojson: an undefined value is not JSON serializable");
    case Value::Kind::function: throw Error("tojson: a function is not JSON serializable");
    case Value::Kind::none: out += "null"; return;
    case Value::Kind::boolean: out += v.boolean() ? "true" : "false"; return;
    case Value::Kind::integer: out += std::to_string(v.integer()); return;
    case Value::Kind::floating: {
      const double f = v.number();
      out += std::isnan(f) ? "NaN" : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity") : float_text(f);
      return;
    }
    case Value::Kind::string: json_string(v.str().text, out); return;
    case Value::Kind::list: {
      if (v.list().empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < v.list().size(); ++i) {
        if (i) out += item_sep;
        newline(depth + 1);
        to_json(v.list()[i], indent, depth + 1, out);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::dict: {
      if (v.dict().empty()) {
        out += "{}";
        return;
      }
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.dict()) {
        if (!first) out += item_sep;
        first = false;
        newline(depth + 1);
        json_string(k, out);
        out += ": ";
        to_json(x, indent, depth + 1, out);
      }
      newline(depth);
      out += '}';
      return;
    }
  }
}

inline bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.kind() == Value::Kind::boolean && b.is_number()) return (a.boolean() ? 1.0 : 0.0) == b.number();
  if (b.kind() == Value::Kind::boolean && a.is_number()) return equal(b, a);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::undefined:
    case Value::Kind::none: return true;
    case Value::Kind::boolean: return a.boolean() == b.boolean();
    case Value::Kind::string: return a.str().text == b.str().text;
    case Value::Kind::list: {
      if (a.list().size() != b.list().size()) return false;
      for (size_t i = 0; i < a.list().size(); ++i)
        if (!equal(a.list()[i], b.list()[i])) return false;
      return true;
    }
    case Value::Kind::dict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, x] : a.dict()) {
        const Value* y = b.find(k);
        if (!y || !equal(x, *y)) return false;
      }
      return true;
    }
    default: return false;
  }
}

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Lexing: the template is cut into text, {{ output }}, {% statement %} pieces; whitespace control
// (-, +, trim_blocks, lstrip_blocks) is applied here, exactly as jinja2's lexer does.

namespace detail {

struct Token {
  enum Kind { name, string, integer, floating, op, end } kind;
  std::string text;
  int line;
};

struct Piece {
  enum Kind { raw, output, statement } kind;
  std::string text;           // raw text pieces
  std::vector<Token> tokens;  // output and statement pieces (last one is `end`)
  int line;
};

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  std::vector<Piece> run() {
    std::vector<Piece> out;
    bool strip_next = false, line_starting = true;
    size_t pos = 0;
    while (pos <= src_.size()) {
      const size_t open = next_tag(pos);
      std::string text(src_.substr(pos, open - pos));
      if (strip_next) {
        size_t k = 0;
        while (k < text.size() && is_space(text[k])) ++k;
        text.erase(0, k);
      }
      strip_next = false;
      if (open == src_.size()) {
        if (!text.empty()) out.push_back({Piece::raw, text, {}, line_at(pos)});
        break;
      }
      const char kind = src_[open + 1];  // '{', '%' or '#'
      const char mod = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (kind != '{' && mod != '+') {
        lstrip_block(text, line_starting);
      }
      if (!text.empty()) out.push_back({Piece::raw, text, {}, line_at(pos)});
      size_t body = open + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      const int line = line_at(open);
      size_t after;
      if (kind == '#') {
        const size_t close = src_.find("#}", body);
        if (close == std::string_view::npos) throw Error(where(line) + "comment is not closed (no '#}')");
        after = close + 2;
        strip_next = close > body && src_[close - 1] == '-';
        if (!strip_next && !(close > body && src_[close - 1] == '+') && after < src_.size() && src_[after] == '\n')
          ++after;  // trim_blocks
      } else {
        Piece p{kind == '{' ? Piece::output : Piece::statement, {}, {}, line};
        after = lex_tag(body, kind == '{' ? '}' : '%', p.tokens, strip_next);
        if (kind == '%' && !strip_next && after < src_.size() && src_[after] == '\n' &&
            !(after >= 3 && src_[after - 3] == '+'))
          ++after;  // trim_blocks
        out.push_back(std::move(p));
      }
      line_starting = after > 0 && src_[after - 1] == '\n';
      pos = after;
    }
    return out;
  }

 private:
  std::string_view src_;

  int line_at(size_t pos) const {
    return 1 + static_cast<int>(std::count(src_.begin(), src_.begin() + static_cast<long>(pos), '\n'));
  }
  static std::string where(int line) { return "template line " + std::to_string(line) + ": "; }

  size_t next_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return src_.size();
  }

  // lstrip_blocks: spaces and tabs between the start of a line and a block tag are dropped.
  static void lstrip_block(std::string& text, bool line_starting) {
    size_t k = text.size();
    while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) --k;
    if (k > 0 ? text[k - 1] == '\n' : line_starting) text.resize(k);
  }

  // Tokenises the inside of a tag up to its closing delimiter; returns the position after it.
  size_t lex_tag(size_t pos, char close, std::vector<Token>& tokens, bool& strip_next) const {
    const int line = line_at(pos);
    while (true) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
      if (pos >= src_.size()) throw Error(where(line) + "tag is not closed");
      const char c = src_[pos];
      const auto at = [&](size_t k) { return pos + k < src_.size() ? src_[pos + k] : '\0'; };
      if ((c == '-' || c == '+') && at(1) == close && at(2) == '}') {
        strip_next = c == '-';
        tokens.push_back({Token::end, "", line});
        return pos + 3;
      }
      if (c == close && at(1) == '}') {
        tokens.push_back({Token::end, "", line});
        return pos + 2;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos;
        while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        tokens.push_back({Token::name, std::string(src_.substr(pos, e - pos)), line});
        pos = e;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = pos;
        bool is_float = false;
        while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
        }
        if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
          size_t k = e + 1;
          if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
          if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
            is_float = true;
            e = k;
            while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
          }
        }
        std::string digits;
        for (char d : src_.substr(pos, e - pos))
          if (d != '_') digits += d;
        tokens.push_back({is_float ? Token::floating : Token::integer, digits, line});
        pos = e;
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos, tokens, line);
      } else {
        static const char* ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                    "=",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|"};
        bool found = false;
        for (const char* op : ops) {
          const size_t n = std::char_traits<char>::length(op);
          if (src_.substr(pos, n) == op) {
            tokens.push_back({Token::op, op, line});
            pos += n;
            found = true;
            break;
          }
        }
        if (!found) throw Error(where(line) + "unexpected character '" + std::string(1, c) + "'");
      }
    }
  }

  size_t lex_string(size_t pos, std::vector<Token>& tokens, int line) const {
    const char q = src_[pos++];
    std::string s;
    while (true) {
      if (pos >= src_.size()) throw Error(where(line) + "string literal is not closed");
      char c = src_[pos++];
      if (c == q) break;
      if (c != '\\') {
        s += c;
        continue;
      }
      if (pos >= src_.size()) throw Error(where(line) + "string literal is not closed");
      c = src_[pos++];
      switch (c) {
        case 'n': s += '\n'; break;
        case 't': s += '\t'; break;
        case 'r': s += '\r'; break;
        case '\\': s += '\\'; break;
        case '\'': s += '\''; break;
        case '"': s += '"'; break;
        case '\n': break;
        case '0': s += '\0'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'v': s += '\v'; break;
        case 'a': s += '\a'; break;
        default: s += '\\'; s += c;  // Python keeps unknown escapes as written
      }
    }
    tokens.push_back({Token::string, s, line});
    return pos;
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Syntax tree and evaluation.

namespace detail {

class Scope {
 public:
  explicit Scope(Scope* parent) : parent_(parent) {}
  const Value* lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent_) {
      auto it = s->vars_.find(name);
      if (it != s->vars_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(const std::string& name, Value v) { vars_[name] = std::move(v); }

 private:
  Scope* parent_;
  std::unordered_map<std::string, Value> vars_;
};

struct LoopSignal {
  enum { none, brk, cont } what = none;
};

class Context;

struct Expr {
  virtual ~Expr() = default;
  virtual Value eval(Context& cx) const = 0;
  int line = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Node {
  virtual ~Node() = default;
  virtual void render(Context& cx, Str& out, LoopSignal& sig) const = 0;
  int line = 0;
};
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

class Context {
 public:
  Scope* scope;
  int depth = 0;
  // Loop iterations and output a render may make: a template is trusted, but the data it loops over
  // is not, and nothing should run for minutes or fill memory.
  long steps_left = 10'000'000;
  void step(int line) {
    if (--steps_left < 0) fail(line, "the template runs too long (over 10,000,000 loop steps)");
  }
  [[noreturn]] void fail(int line, const std::string& what) const {
    throw Error("template line " + std::to_string(line) + ": " + what);
  }
};

inline void render_body(const Body& body, Context& cx, Str& out, LoopSignal& sig) {
  for (const auto& n : body) {
    if (out.text.size() > (64u << 20)) cx.fail(n->line, "the output is over 64 MB");
    n->render(cx, out, sig);
    if (sig.what != LoopSignal::none) return;
  }
}

// Value -> text for output and ~: strings keep their marks; everything else is template text.
inline Str to_str(const Value& v) {
  if (v.is_string()) return v.str();
  Str s = Str::literal(python_str(v));
  if (v.is_list() || v.is_dict()) s.from_data.assign(s.text.size(), '\1');  // may hold request text
  return s;
}

struct Literal : Expr {
  Value v;
  Value eval(Context&) const override { return v; }
};

struct NameRef : Expr {
  std::string name;
  Value eval(Context& cx) const override {
    const Value* v = cx.scope->lookup(name);
    return v ? *v : Value();
  }
};

struct ListExpr : Expr {
  std::vector<ExprPtr> items;
  Value eval(Context& cx) const override {
    List l;
    for (const auto& e : items) l.push_back(e->eval(cx));
    return Value(std::move(l));
  }
};

struct DictExpr : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
  Value eval(Context& cx) const override {
    Value d{Dict{}};
    for (const auto& [k, v] : items) {
      const Value key = k->eval(cx);
      if (!key.is_string()) cx.fail(line, "dictionary keys must be strings");
      d.set(key.str().text, v->eval(cx));
    }
    return d;
  }
};

inline Value attribute(Context& cx, int line, const Value& obj, const std::string& name, const std::string& what) {
  if (obj.is_undefined()) cx.fail(line, "'" + what + "' is undefined (reading ." + name + ")");
  if (const Value* v = obj.find(name)) return *v;
  return Value();
}

inline int64_t python_index(int64_t i, int64_t n) { return i < 0 ? (i < -n ? -1 : i + n) : i; }

inline Value subscript(Context& cx, int line, const Value& obj, const Value& key, const std::string& what) {
  if (obj.is_undefined()) cx.fail(line, "'" + what + "' is undefined (indexing it)");
  if (obj.is_dict()) {
    if (!key.is_string()) return Value();
    return attribute(cx, line, obj, key.str().text, what);
  }
  if (!key.is_number() && key.kind() != Value::Kind::boolean) return Value();
  if (obj.is_list()) {
    const int64_t n = static_cast<int64_t>(obj.list().size()), i = python_index(key.integer(), n);
    return i >= 0 && i < n ? obj.list()[static_cast<size_t>(i)] : Value();
  }
  if (obj.is_string()) {  // bytes, not code points: chat templates index ASCII markers only
    const int64_t n = static_cast<int64_t>(obj.str().text.size()), i = python_index(key.integer(), n);
    return i >= 0 && i < n ? Value(obj.str().substr(static_cast<size_t>(i), 1)) : Value();
  }
  return Value();
}

struct Attr : Expr {
  ExprPtr obj;
  std::string name;
  std::string describe() const;
  Value eval(Context& cx) const override { return attribute(cx, line, obj->eval(cx), name, describe()); }
};

inline std::string describe_expr(const Expr* e) {
  if (auto n = dynamic_cast<const NameRef*>(e)) return n->name;
  if (auto a = dynamic_cast<const Attr*>(e)) return a->describe();
  return "value";
}
inline std::string Attr::describe() const { return describe_expr(obj.get()) + "." + name; }

struct Item : Expr {
  ExprPtr obj, key;
  Value eval(Context& cx) const override {
    return subscript(cx, line, obj->eval(cx), key->eval(cx), describe_expr(obj.get()));
  }
};

struct SliceExpr : Expr {
  ExprPtr obj, start, stop, step;
  Value eval(Context& cx) const override {
    const Value o = obj->eval(cx);
    if (o.is_undefined()) cx.fail(line, "'" + describe_expr(obj.get()) + "' is undefined (slicing it)");
    const int64_t n = o.is_list() ? static_cast<int64_t>(o.list().size())
                      : o.is_string() ? static_cast<int64_t>(o.str().text.size()) : -1;
    if (n < 0) cx.fail(line, "only lists and strings can be sliced");
    const auto get = [&](const ExprPtr& e, int64_t fallback) {
      if (!e) return fallback;
      const Value v = e->eval(cx);
      return v.is_none() ? fallback : v.integer();
    };
    const int64_t st = get(step, 1);
    if (st == 0) cx.fail(line, "slice step cannot be zero");
    const auto clamp = [&](int64_t i, bool is_start) {
      if (i < 0) i += n;
      if (st > 0) return std::clamp<int64_t>(i, 0, n);
      return std::clamp<int64_t>(i, -1, n - 1);
      (void)is_start;
    };
    const int64_t b = start ? clamp(get(start, 0), true) : (st > 0 ? 0 : n - 1);
    const int64_t e = stop ? clamp(get(stop, 0), false) : (st > 0 ? n : -1);
    std::vector<int64_t> idx;
    for (int64_t i = b; st > 0 ? i < e : i > e;) {
      idx.push_back(i);
      if (__builtin_add_overflow(i, st, &i)) break;
    }
    if (o.is_list()) {
      List l;
      for (int64_t i : idx) l.push_back(o.list()[static_cast<size_t>(i)]);
      return Value(std::move(l));
    }
    Str s;
    for (int64_t i : idx) s.append(o.str().substr(static_cast<size_t>(i), 1));
    return Value(std::move(s));
  }
};

struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
  Args eval(Context& cx) const {
    Args a;
    for (const auto& e : positional) a.positional.push_back(e->eval(cx));
    for (const auto& [k, e] : named) a.named.emplace_back(k, e->eval(cx));
    return a;
  }
};

Value call_method(Context& cx, int line, const Value& obj, const std::string& name, Args& args);
Value apply_filter(Context& cx, int line, const std::string& name, const Value& v, Args& args);
bool apply_test(Context& cx, int line, const std::string& name, const Value& v, Args& args);

struct Call : Expr {
  ExprPtr callee;
  CallArgs args;
  Value eval(Context& cx) const override {
    if (auto a = dynamic_cast<const Attr*>(callee.get())) {
      const Value obj = a->obj->eval(cx);
      if (obj.is_undefined()) cx.fail(line, "'" + describe_expr(a->obj.get()) + "' is undefined (calling ." + a->name + ")");
      const Value* member = obj.find(a->name);
      if (!member || member->kind() != Value::Kind::function) {
        Args v = args.eval(cx);
        return call_method(cx, line, obj, a->name, v);
      }
    }
    const Value f = callee->eval(cx);
    if (f.kind() != Value::Kind::function) cx.fail(line, "'" + describe_expr(callee.get()) + "' is not callable");
    Args v = args.eval(cx);
    return f.function()(v);
  }
};

struct FilterExpr : Expr {
  ExprPtr value;
  std::string name;
  CallArgs args;
  Value eval(Context& cx) const override {
    const Value v = value->eval(cx);
    Args a = args.eval(cx);
    return apply_filter(cx, line, name, v, a);
  }
};

struct TestExpr : Expr {
  ExprPtr value;
  std::string name;
  CallArgs args;
  bool negated = false;
  Value eval(Context& cx) const override {
    const Value v = value->eval(cx);
    Args a = args.eval(cx);
    return Value(apply_test(cx, line, name, v, a) != negated);
  }
};

struct Cond : Expr {
  ExprPtr test, yes, no;
  Value eval(Context& cx) const override {
    if (truthy(test->eval(cx))) return yes->eval(cx);
    return no ? no->eval(cx) : Value();
  }
};

struct Not : Expr {
  ExprPtr e;
  Value eval(Context& cx) const override { return Value(!truthy(e->eval(cx))); }
};

struct Neg : Expr {
  ExprPtr e;
  bool negate = true;
  Value eval(Context& cx) const override {
    const Value v = e->eval(cx);
    if (!v.is_number()) cx.fail(line, "unary minus needs a number");
    if (!negate) return v;
    if (v.kind() == Value::Kind::integer && v.integer() == INT64_MIN) cx.fail(line, "integer overflow");
    return v.kind() == Value::Kind::integer ? Value(-v.integer()) : Value(-v.number());
  }
};

struct Logic : Expr {
  ExprPtr a, b;
  bool is_and;
  Value eval(Context& cx) const override {
    Value x = a->eval(cx);
    if (truthy(x) != is_and) return x;  // Python returns the deciding operand
    return b->eval(cx);
  }
};

inline bool contains(Context& cx, int line, const Value& needle, const Value& hay) {
  if (hay.is_string()) {
    if (!needle.is_string()) cx.fail(line, "'in <string>' needs a string on the left");
    return hay.str().text.find(needle.str().text) != std::string::npos;
  }
  if (hay.is_list()) {
    for (const auto& x : hay.list())
      if (equal(x, needle)) return true;
    return false;
  }
  if (hay.is_dict()) return needle.is_string() && hay.find(needle.str().text) != nullptr;
  if (hay.is_undefined()) cx.fail(line, "'in' on an undefined value");
  cx.fail(line, "'in' needs a string, list or dict on the right");
}

inline int compare(Context& cx, int line, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
  if (a.is_string() && b.is_string()) return a.str().text.compare(b.str().text) < 0 ? -1 : a.str().text == b.str().text ? 0 : 1;
  cx.fail(line, "cannot order " + repr(a) + " and " + repr(b));
}

struct Compare : Expr {
  ExprPtr first;
  std::vector<std::pair<std::string, ExprPtr>> rest;  // chained: a < b < c
  Value eval(Context& cx) const override {
    Value left = first->eval(cx);
    for (const auto& [op, e] : rest) {
      const Value right = e->eval(cx);
      bool ok;
      if (op == "==") ok = equal(left, right);
      else if (op == "!=") ok = !equal(left, right);
      else if (op == "in") ok = contains(cx, line, left, right);
      else if (op == "notin") ok = !contains(cx, line, left, right);
      else {
        const int c = compare(cx, line, left, right);
        ok = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
      }
      if (!ok) return Value(false);
      left = right;
    }
    return Value(true);
  }
};

inline Value arithmetic(Context& cx, int line, const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    Str s = to_str(a);
    s.append(to_str(b));
    return Value(std::move(s));
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      Str s = a.str();
      s.append(b.str());
      return Value(std::move(s));
    }
    if (a.is_list() && b.is_list()) {
      List l = a.list();
      l.insert(l.end(), b.list().begin(), b.list().end());
      return Value(std::move(l));
    }
  }
  if (op == "*" && a.is_string() && b.kind() == Value::Kind::integer) {
    if (static_cast<double>(a.str().text.size()) * static_cast<double>(b.integer()) > (16 << 20))
      cx.fail(line, "string repetition over 16 MB");
    Str s;
    for (int64_t i = 0; i < b.integer(); ++i) s.append(a.str());
    return Value(std::move(s));
  }
  const auto num = [](const Value& v) { return v.is_number() || v.kind() == Value::Kind::boolean; };
  if (!num(a) || !num(b))
    cx.fail(line, "unsupported operand types for " + op + ": " + repr(a) + " and " + repr(b));
  const bool ints = a.kind() != Value::Kind::floating && b.kind() != Value::Kind::floating;
  const double x = a.kind() == Value::Kind::boolean ? a.boolean() : a.number();
  const double y = b.kind() == Value::Kind::boolean ? b.boolean() : b.number();
  const int64_t i = a.kind() == Value::Kind::boolean ? a.boolean() : a.integer();
  const int64_t j = b.kind() == Value::Kind::boolean ? b.boolean() : b.integer();
  if (op == "/") {
    if (y == 0) cx.fail(line, "division by zero");
    return Value(x / y);
  }
  if (op == "//" || op == "%") {
    if (y == 0) cx.fail(line, "division by zero");
    if (ints) {
      if (i == INT64_MIN && j == -1) cx.fail(line, "integer overflow");
      int64_t q = i / j, r = i % j;
      if (r != 0 && ((r < 0) != (j < 0))) {
        --q;
        r += j;
      }
      return op == "//" ? Value(q) : Value(r);
    }
    const double q = std::floor(x / y);
    return op == "//" ? Value(q) : Value(x - q * y);
  }
  if (op == "**") {
    if (ints && j >= 0) {
      int64_t r = 1;
      for (int64_t k = 0; k < j && r != 0; ++k) {
        if (__builtin_mul_overflow(r, i, &r)) cx.fail(line, "integer overflow");
        if (i == 1 || i == -1) {  // the sign alternates or stays: no need to loop j times
          r = (i == -1 && (j - k - 1) % 2) ? -r : r;
          break;
        }
      }
      return Value(r);
    }
    return Value(std::pow(x, y));
  }
  if (ints) {
    int64_t r;
    const bool over = op == "+" ? __builtin_add_overflow(i, j, &r) : op == "-" ? __builtin_sub_overflow(i, j, &r)
                                                                               : __builtin_mul_overflow(i, j, &r);
    if (over) cx.fail(line, "integer overflow");  // Python would grow the integer; templates never need to
    return Value(r);
  }
  return op == "+" ? Value(x + y) : op == "-" ? Value(x - y) : Value(x * y);
}

struct Binary : Expr {
  std::string op;
  ExprPtr a, b;
  Value eval(Context& cx) const override { return arithmetic(cx, line, op, a->eval(cx), b->eval(cx)); }
};

// ---- statements

struct TextNode : Node {
  Str text;
  void render(Context&, Str& out, LoopSignal&) const override { out.append(text); }
};

struct OutputNode : Node {
  ExprPtr e;
  void render(Context& cx, Str& out, LoopSignal&) const override { out.append(to_str(e->eval(cx))); }
};

struct IfNode : Node {
  std::vector<std::pair<ExprPtr, Body>> branches;  // else: null condition
  void render(Context& cx, Str& out, LoopSignal& sig) const override {
    for (const auto& [c, body] : branches)
      if (!c || truthy(c->eval(cx))) {
        render_body(body, cx, out, sig);
        return;
      }
  }
};

inline List iterate(Context& cx, int line, const Value& v) {
  if (v.is_list()) return v.list();
  if (v.is_dict()) {
    List keys;
    for (const auto& kv : v.dict()) keys.push_back(Value::literal(kv.first));
    return keys;
  }
  if (v.is_string()) {
    List chars;
    for (size_t i = 0; i < v.str().text.size(); ++i) chars.push_back(Value(v.str().substr(i, 1)));
    return chars;
  }
  if (v.is_undefined() || v.is_none()) {
    if (v.is_none()) cx.fail(line, "'NoneType' object is not iterable");
    return {};
  }
  cx.fail(line, repr(v) + " is not iterable");
}

inline void assign(Context& cx, int line, const std::vector<std::string>& targets, const Value& v) {
  if (targets.size() == 1) {
    cx.scope->set(targets[0], v);
    return;
  }
  const List items = iterate(cx, line, v);
  if (items.size() != targets.size())
    cx.fail(line, "cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()));
  for (size_t i = 0; i < targets.size(); ++i) cx.scope->set(targets[i], items[i]);
}

struct ForNode : Node {
  std::vector<std::string> targets;
  ExprPtr iter, filter;
  Body body, else_body;
  void render(Context& cx, Str& out, LoopSignal&) const override {
    const List all = iterate(cx, line, iter->eval(cx));
    Scope* outer = cx.scope;
    List items;
    if (filter) {
      for (const auto& v : all) {
        Scope s(outer);
        cx.scope = &s;
        assign(cx, line, targets, v);
        const bool keep = truthy(filter->eval(cx));
        cx.scope = outer;
        if (keep) items.push_back(v);
      }
    } else {
      items = all;
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      cx.step(line);
      Scope s(outer);  // jinja2: assignments in the body last one iteration
      cx.scope = &s;
      Value loop{Dict{{"index", Value(i + 1)},
                      {"index0", Value(i)},
                      {"revindex", Value(n - i)},
                      {"revindex0", Value(n - i - 1)},
                      {"first", Value(i == 0)},
                      {"last", Value(i == n - 1)},
                      {"length", Value(n)},
                      {"previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value()},
                      {"nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value()}}};
      s.set("loop", loop);
      assign(cx, line, targets, items[static_cast<size_t>(i)]);
      LoopSignal sig;
      render_body(body, cx, out, sig);
      cx.scope = outer;
      if (sig.what == LoopSignal::brk) break;
    }
    if (n == 0) {
      LoopSignal sig;
      render_body(else_body, cx, out, sig);
    }
  }
};

struct SetNode : Node {
  std::vector<std::string> targets;  // or one namespace attribute: ns_name + attr
  std::string ns_name, attr;
  ExprPtr value;
  Body block;  // {% set x %}...{% endset %}
  void render(Context& cx, Str&, LoopSignal&) const override {
    Value v;
    if (value) {
      v = value->eval(cx);
    } else {
      Str captured;
      LoopSignal sig;
      render_body(block, cx, captured, sig);
      v = Value(std::move(captured));
    }
    if (!ns_name.empty()) {
      const Value* ns = cx.scope->lookup(ns_name);
      if (!ns || !ns->is_namespace()) cx.fail(line, "'" + ns_name + "' is not a namespace: cannot set ." + attr);
      const_cast<Value*>(ns)->set(attr, std::move(v));
      return;
    }
    assign(cx, line, targets, v);
  }
};

struct LoopControl : Node {
  bool is_break;
  void render(Context&, Str&, LoopSignal& sig) const override { sig.what = is_break ? LoopSignal::brk : LoopSignal::cont; }
};

struct MacroNode : Node {
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default may be null
  Body body;
  void render(Context& cx, Str&, LoopSignal&) const override {
    Scope* defining = cx.scope;
    Context* ctx = &cx;
    const MacroNode* self = this;
    cx.scope->set(name, Value(Function([self, defining, ctx](Args& a) -> Value {
      if (ctx->depth > 64) ctx->fail(self->line, "macro recursion is too deep");
      Scope s(defining);
      for (size_t i = 0; i < self->params.size(); ++i) {
        const auto& [pname, def] = self->params[i];
        Value v = a.get(i, pname);
        if (v.is_undefined() && def) {
          Scope* saved = ctx->scope;
          ctx->scope = &s;
          v = def->eval(*ctx);
          ctx->scope = saved;
        }
        s.set(pname, v);
      }
      Scope* saved = ctx->scope;
      ctx->scope = &s;
      ++ctx->depth;
      Str out;
      LoopSignal sig;
      try {
        render_body(self->body, *ctx, out, sig);
      } catch (...) {
        ctx->scope = saved;
        --ctx->depth;
        throw;
      }
      ctx->scope = saved;
      --ctx->depth;
      return Value(std::move(out));
    })));
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Parsing: statements over the piece list, expressions over each tag's tokens (jinja2's grammar
// and precedence: if-else < or < and < not < comparisons < + - < ~ < * / // % < ** < unary <
// postfix (. [] () | is)).

namespace detail {

class Parser {
 public:
  explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  Body parse_template() {
    Body body = parse_body({});
    if (at_ < pieces_.size()) fail(pieces_[at_].line, "unexpected '" + keyword() + "'");
    return body;
  }

 private:
  std::vector<Piece> pieces_;
  size_t at_ = 0;
  const std::vector<Token>* toks_ = nullptr;
  size_t tk_ = 0;
  int depth_ = 0;  // expression and block nesting, bounded so that no input can exhaust the stack

  struct Nest {
    explicit Nest(Parser& p) : p_(p) {
      if (++p_.depth_ > 200) fail(p_.line(), "nesting is deeper than 200 levels");
    }
    ~Nest() { --p_.depth_; }
    Parser& p_;
  };
  int line() const { return toks_ && !toks_->empty() ? peek().line : 0; }

  [[noreturn]] static void fail(int line, const std::string& what) {
    throw Error("template line " + std::to_string(line) + ": " + what);
  }

  std::string keyword() const {
    const auto& t = pieces_[at_].tokens;
    return t.empty() || t[0].kind != Token::name ? std::string() : t[0].text;
  }

  // Parses pieces until a statement whose keyword is in `stops` (left unconsumed).
  Body parse_body(const std::vector<std::string>& stops) {
    Body body;
    while (at_ < pieces_.size()) {
      const Piece& p = pieces_[at_];
      if (p.kind == Piece::raw) {
        auto n = std::make_unique<TextNode>();
        n->text = Str::literal(p.text);
        n->line = p.line;
        body.push_back(std::move(n));
        ++at_;
        continue;
      }
      begin(p);
      if (p.kind == Piece::output) {
        auto n = std::make_unique<OutputNode>();
        n->line = p.line;
        n->e = parse_expr();
        expect_end();
        body.push_back(std::move(n));
        ++at_;
        continue;
      }
      const std::string kw = keyword();
      if (std::find(stops.begin(), stops.end(), kw) != stops.end()) return body;
      body.push_back(parse_statement(kw));
    }
    if (!stops.empty()) {
      std::string want;
      for (const auto& s : stops) want += (want.empty() ? "" : " or ") + ("'" + s + "'");
      fail(pieces_.empty() ? 1 : pieces_.back().line, "the template ended before " + want);
    }
    return body;
  }

  void begin(const Piece& p) {
    toks_ = &p.tokens;
    tk_ = 0;
  }
  const Token& peek(size_t k = 0) const { return (*toks_)[std::min(tk_ + k, toks_->size() - 1)]; }
  const Token& next() { return (*toks_)[std::min(tk_++, toks_->size() - 1)]; }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).kind == Token::op && peek(k).text == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).kind == Token::name && peek(k).text == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++tk_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    ++tk_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(peek().line, std::string("expected '") + op + "', found " + describe(peek()));
  }
  std::string expect_name() {
    if (peek().kind != Token::name) fail(peek().line, "expected a name, found " + describe(peek()));
    return next().text;
  }
  void expect_end() {
    if (peek().kind != Token::end) fail(peek().line, "unexpected " + describe(peek()) + " in tag");
  }
  static std::string describe(const Token& t) {
    return t.kind == Token::end ? "the end of the tag" : "'" + t.text + "'";
  }

  // Consumes the statement `kw` that closes a block ({% endif %}...).
  void close(const char* kw) {
    begin(pieces_[at_]);
    ++tk_;
    expect_end();
    ++at_;
    (void)kw;
  }

  NodePtr parse_statement(const std::string& kw) {
    Nest nest(*this);
    const int line = pieces_[at_].line;
    ++tk_;
    NodePtr node;
    if (kw == "if") node = parse_if();
    else if (kw == "for") node = parse_for();
    else if (kw == "set") node = parse_set();
    else if (kw == "macro") node = parse_macro();
    else if (kw == "break" || kw == "continue") {
      auto n = std::make_unique<LoopControl>();
      n->is_break = kw == "break";
      expect_end();
      ++at_;
      node = std::move(n);
    } else if (kw == "generation") {  // transformers' assistant-mask marker: renders its body
      expect_end();
      ++at_;
      auto n = std::make_unique<IfNode>();
      n->branches.emplace_back(nullptr, parse_body({"endgeneration"}));
      close("endgeneration");
      node = std::move(n);
    } else {
      fail(line, kw.empty() ? "a statement must start with a keyword" : "unknown statement '" + kw + "'");
    }
    node->line = line;
    return node;
  }

  NodePtr parse_if() {
    auto n = std::make_unique<IfNode>();
    ExprPtr cond = parse_expr();
    expect_end();
    ++at_;
    while (true) {
      Body body = parse_body({"elif", "else", "endif"});
      n->branches.emplace_back(std::move(cond), std::move(body));
      const std::string kw = keyword();
      begin(pieces_[at_]);
      ++tk_;
      if (kw == "elif") {
        cond = parse_expr();
        expect_end();
        ++at_;
      } else if (kw == "else") {
        expect_end();
        ++at_;
        n->branches.emplace_back(nullptr, parse_body({"endif"}));
        close("endif");
        return n;
      } else {
        expect_end();
        ++at_;
        return n;
      }
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> t{expect_name()};
    while (accept_op(",")) t.push_back(expect_name());
    return t;
  }

  NodePtr parse_for() {
    auto n = std::make_unique<ForNode>();
    n->targets = parse_targets();
    if (!accept_name("in")) fail(peek().line, "expected 'in' in for, found " + describe(peek()));
    n->iter = parse_condexpr(false);
    if (accept_name("if")) n->filter = parse_or();
    if (accept_name("recursive")) fail(peek().line, "recursive loops are not supported");
    expect_end();
    ++at_;
    n->body = parse_body({"else", "endfor"});
    if (keyword() == "else") {
      close("else");
      n->else_body = parse_body({"endfor"});
    }
    close("endfor");
    return n;
  }

  NodePtr parse_set() {
    auto n = std::make_unique<SetNode>();
    const std::string first = expect_name();
    if (accept_op(".")) {
      n->ns_name = first;
      n->attr = expect_name();
    } else {
      n->targets.push_back(first);
      while (accept_op(",")) n->targets.push_back(expect_name());
    }
    if (accept_op("=")) {
      n->value = parse_tuple_or_expr();
      expect_end();
      ++at_;
      return n;
    }
    expect_end();
    ++at_;
    n->block = parse_body({"endset"});
    close("endset");
    return n;
  }

  NodePtr parse_macro() {
    auto n = std::make_unique<MacroNode>();
    n->name = expect_name();
    expect_op("(");
    while (!accept_op(")")) {
      std::string p = expect_name();
      ExprPtr def;
      if (accept_op("=")) def = parse_expr();
      n->params.emplace_back(std::move(p), std::move(def));
      if (!is_op(")")) expect_op(",");
    }
    expect_end();
    ++at_;
    n->body = parse_body({"endmacro"});
    close("endmacro");
    return n;
  }

  // ---- expressions

  template <typename T>
  std::unique_ptr<T> make(int line) {
    auto e = std::make_unique<T>();
    e->line = line;
    return e;
  }

  ExprPtr parse_tuple_or_expr() {
    ExprPtr e = parse_expr();
    if (!is_op(",")) return e;
    auto l = make<ListExpr>(e->line);
    l->items.push_back(std::move(e));
    while (accept_op(",")) {
      if (peek().kind == Token::end) break;
      l->items.push_back(parse_expr());
    }
    return l;
  }

  ExprPtr parse_expr() { return parse_condexpr(true); }

  ExprPtr parse_condexpr(bool allow_cond) {
    ExprPtr e = parse_or();
    while (allow_cond && is_name("if")) {
      ++tk_;
      auto c = make<Cond>(e->line);
      c->yes = std::move(e);
      c->test = parse_or();
      if (accept_name("else")) c->no = parse_condexpr(true);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (accept_name("or")) {
      auto l = make<Logic>(e->line);
      l->is_and = false;
      l->a = std::move(e);
      l->b = parse_and();
      e = std::move(l);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (accept_name("and")) {
      auto l = make<Logic>(e->line);
      l->is_and = true;
      l->a = std::move(e);
      l->b = parse_not();
      e = std::move(l);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const int line = next().line;
      auto n = make<Not>(line);
      n->e = parse_not();
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    std::unique_ptr<Compare> c;
    while (true) {
      std::string op;
      if (peek().kind == Token::op &&
          (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">="))) {
        op = next().text;
      } else if (is_name("in")) {
        ++tk_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        tk_ += 2;
        op = "notin";
      } else {
        break;
      }
      if (!c) {
        c = make<Compare>(e->line);
        c->first = std::move(e);
      }
      c->rest.emplace_back(op, parse_math1());
    }
    if (c) return c;
    return e;
  }

  ExprPtr binary(std::string op, ExprPtr a, ExprPtr b) {
    auto n = make<Binary>(a->line);
    n->op = std::move(op);
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = next().text;
      e = binary(op, std::move(e), parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (accept_op("~")) e = binary("~", std::move(e), parse_math2());
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = next().text;
      e = binary(op, std::move(e), parse_pow());
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (accept_op("**")) e = binary("**", std::move(e), parse_unary(true));
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    Nest nest(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      auto n = make<Neg>(t.line);
      n->negate = t.text == "-";
      n->e = parse_unary(false);
      e = std::move(n);
    } else {
      e = parse_postfix(parse_primary());
    }
    return with_filter ? parse_filters(std::move(e)) : std::move(e);
  }

  ExprPtr parse_primary() {
    const Token& t = next();
    switch (t.kind) {
      case Token::string: {
        std::string s = t.text;
        while (peek().kind == Token::string) s += next().text;  // "a" "b"
        auto l = make<Literal>(t.line);
        l->v = Value::literal(s);
        return l;
      }
      case Token::integer: {
        auto l = make<Literal>(t.line);
        l->v = Value(integer_literal(t));
        return l;
      }
      case Token::floating: {
        auto l = make<Literal>(t.line);
        l->v = Value(std::strtod(t.text.c_str(), nullptr));
        return l;
      }
      case Token::name: {
        auto l = make<Literal>(t.line);
        if (t.text == "true" || t.text == "True") l->v = Value(true);
        else if (t.text == "false" || t.text == "False") l->v = Value(false);
        else if (t.text == "none" || t.text == "None") l->v = Value::none();
        else {
          auto n = make<NameRef>(t.line);
          n->name = t.text;
          return n;
        }
        return l;
      }
      case Token::op:
        if (t.text == "(") {
          ExprPtr e = parse_tuple_or_expr();
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          auto l = make<ListExpr>(t.line);
          while (!accept_op("]")) {
            l->items.push_back(parse_expr());
            if (!is_op("]")) expect_op(",");
          }
          return l;
        }
        if (t.text == "{") {
          auto d = make<DictExpr>(t.line);
          while (!accept_op("}")) {
            ExprPtr k = parse_expr();
            expect_op(":");
            d->items.emplace_back(std::move(k), parse_expr());
            if (!is_op("}")) expect_op(",");
          }
          return d;
        }
        break;
      case Token::end: break;
    }
    fail(t.line, "unexpected " + describe(t) + " in expression");
  }

  static int64_t integer_literal(const Token& t) {
    int64_t v = 0;
    const auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      fail(t.line, "integer literal " + t.text + " is out of range");
    return v;
  }

  CallArgs parse_call_args() {  // after '('
    CallArgs a;
    while (!accept_op(")")) {
      if (peek().kind == Token::name && is_op("=", 1)) {
        std::string k = next().text;
        ++tk_;
        a.named.emplace_back(std::move(k), parse_expr());
      } else {
        a.positional.push_back(parse_expr());
      }
      if (!is_op(")")) expect_op(",");
    }
    return a;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const int line = peek().line;
      if (accept_op(".")) {
        auto a = make<Attr>(line);
        a->obj = std::move(e);
        if (peek().kind == Token::integer) {  // foo.0
          auto it = make<Item>(line);
          auto k = make<Literal>(line);
          k->v = Value(integer_literal(next()));
          it->obj = std::move(a->obj);
          it->key = std::move(k);
          e = std::move(it);
          continue;
        }
        a->name = expect_name();
        e = std::move(a);
      } else if (accept_op("[")) {
        e = parse_subscript(std::move(e), line);
      } else if (accept_op("(")) {
        auto c = make<Call>(line);
        c->callee = std::move(e);
        c->args = parse_call_args();
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3];
    int colons = 0;
    while (!is_op("]")) {
      if (accept_op(":")) {
        if (++colons > 2) fail(line, "too many ':' in a slice");
        continue;
      }
      if (parts[colons]) fail(line, "expected ':' or ']' in a subscript");
      parts[colons] = parse_expr();
    }
    expect_op("]");
    if (colons == 0) {
      if (!parts[0]) fail(line, "empty subscript");
      auto it = make<Item>(line);
      it->obj = std::move(obj);
      it->key = std::move(parts[0]);
      return it;
    }
    auto s = make<SliceExpr>(line);
    s->obj = std::move(obj);
    s->start = std::move(parts[0]);
    s->stop = std::move(parts[1]);
    s->step = std::move(parts[2]);
    return s;
  }

  ExprPtr parse_filters(ExprPtr e) {
    while (true) {
      const int line = peek().line;
      if (accept_op("|")) {
        auto f = make<FilterExpr>(line);
        f->value = std::move(e);
        f->name = expect_name();
        if (accept_op("(")) f->args = parse_call_args();
        e = parse_postfix(std::move(f));
      } else if (accept_name("is")) {
        auto t = make<TestExpr>(line);
        t->value = std::move(e);
        t->negated = accept_name("not");
        t->name = expect_name();
        if (accept_op("(")) {
          t->args = parse_call_args();
        } else if (peek().kind == Token::string || peek().kind == Token::integer || peek().kind == Token::floating ||
                   (peek().kind == Token::name && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("in") && !is_name("not") && !is_name("is"))) {
          t->args.positional.push_back(parse_primary());  // `is divisibleby 3`, `is equalto x`
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Methods, filters and tests (those chat templates call; anything else is a clear error).

namespace detail {

inline Str strip_chars(const Str& s, const Value& chars, bool left, bool right) {
  const std::string set = chars.is_string() ? chars.str().text : std::string(" \t\n\r\f\v");
  size_t b = 0, e = s.text.size();
  if (left)
    while (b < e && set.find(s.text[b]) != std::string::npos) ++b;
  if (right)
    while (e > b && set.find(s.text[e - 1]) != std::string::npos) --e;
  return s.substr(b, e - b);
}

inline List split(const Str& s, const Value& sep, int64_t maxsplit) {
  List out;
  const std::string& t = s.text;
  if (!sep.is_string()) {  // runs of whitespace, no empty parts
    size_t i = 0;
    while (true) {
      while (i < t.size() && is_space(t[i])) ++i;
      if (i >= t.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t e = t.size();
        while (e > i && is_space(t[e - 1])) --e;
        out.push_back(Value(s.substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < t.size() && !is_space(t[j])) ++j;
      out.push_back(Value(s.substr(i, j - i)));
      i = j;
    }
    return out;
  }
  const std::string& d = sep.str().text;
  if (d.empty()) throw Error("split: empty separator");
  size_t i = 0;
  while (true) {
    const size_t j = t.find(d, i);
    if (j == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
      out.push_back(Value(s.substr(i)));
      return out;
    }
    out.push_back(Value(s.substr(i, j - i)));
    i = j + d.size();
  }
}

inline Str replace(const Str& s, const Str& from, const Str& to, int64_t count) {
  if (from.text.empty()) return s;
  Str out;
  size_t i = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t j = s.text.find(from.text, i);
    if (j == std::string::npos) break;
    out.append(s.substr(i, j - i));
    out.append(to);
    i = j + from.text.size();
    ++done;
  }
  out.append(s.substr(i));
  return out;
}

inline Str map_chars(const Str& s, int (*f)(int)) {
  Str out = s;
  for (char& c : out.text) c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return out;
}

inline Str capitalize(const Str& s) {
  Str out = map_chars(s, [](int c) { return std::tolower(c); });
  if (!out.text.empty()) out.text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out.text[0])));
  return out;
}

inline Str title(const Str& s) {
  Str out = s;
  bool start = true;
  for (char& c : out.text) {
    const unsigned char u = static_cast<unsigned char>(c);
    c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
    start = !std::isalnum(u);
  }
  return out;
}

inline Value string_method(Context& cx, int line, const Str& s, const std::string& name, Args& a) {
  if (name == "strip") return Value(strip_chars(s, a.get(0, "chars"), true, true));
  if (name == "lstrip") return Value(strip_chars(s, a.get(0, "chars"), true, false));
  if (name == "rstrip") return Value(strip_chars(s, a.get(0, "chars"), false, true));
  if (name == "split") {
    const Value max = a.get(1, "maxsplit");
    return Value(split(s, a.get(0, "sep"), max.is_number() ? max.integer() : -1));
  }
  if (name == "startswith" || name == "endswith") {
    const Value arg = a.get(0, "prefix");
    List options = arg.is_list() ? arg.list() : List{arg};
    for (const auto& o : options) {
      if (!o.is_string()) cx.fail(line, name + " needs a string");
      const std::string& p = o.str().text;
      const bool hit = name == "startswith" ? s.text.compare(0, p.size(), p) == 0
                                            : s.text.size() >= p.size() && s.text.compare(s.text.size() - p.size(), p.size(), p) == 0;
      if (hit) return Value(true);
    }
    return Value(false);
  }
  if (name == "upper") return Value(map_chars(s, [](int c) { return std::toupper(c); }));
  if (name == "lower") return Value(map_chars(s, [](int c) { return std::tolower(c); }));
  if (name == "capitalize") return Value(capitalize(s));
  if (name == "title") return Value(title(s));
  if (name == "replace") {
    const Value from = a.get(0, "old"), to = a.get(1, "new"), count = a.get(2, "count");
    if (!from.is_string() || !to.is_string()) cx.fail(line, "replace needs two strings");
    return Value(replace(s, from.str(), to.str(), count.is_number() ? count.integer() : -1));
  }
  if (name == "find") {
    const Value x = a.get(0, "sub");
    if (!x.is_string()) cx.fail(line, "find needs a string");
    const size_t p = s.text.find(x.str().text);
    return Value(p == std::string::npos ? int64_t{-1} : static_cast<int64_t>(p));
  }
  if (name == "count") {
    const Value x = a.get(0, "sub");
    if (!x.is_string() || x.str().text.empty()) cx.fail(line, "count needs a non-empty string");
    int64_t n = 0;
    for (size_t p = s.text.find(x.str().text); p != std::string::npos; p = s.text.find(x.str().text, p + x.str().text.size())) ++n;
    return Value(n);
  }
  if (name == "join") {
    Str out;
    const List items = iterate(cx, line, a.get(0, "iterable"));
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out.append(s);
      out.append(to_str(items[i]));
    }
    return Value(std::move(out));
  }
  if (name == "isdigit" || name == "isalpha" || name == "isspace") {
    if (s.text.empty()) return Value(false);
    for (unsigned char c : s.text)
      if (!(name == "isdigit" ? std::isdigit(c) : name == "isalpha" ? std::isalpha(c) : std::isspace(c))) return Value(false);
    return Value(true);
  }
  cx.fail(line, "strings have no method '" + name + "'");
}

inline Value call_method(Context& cx, int line, const Value& obj, const std::string& name, Args& a) {
  if (obj.is_string()) return string_method(cx, line, obj.str(), name, a);
  if (obj.is_dict()) {
    if (name == "items") {
      List l;
      for (const auto& [k, v] : obj.dict()) l.push_back(Value(List{Value::literal(k), v}));
      return Value(std::move(l));
    }
    if (name == "keys") return Value(iterate(cx, line, obj));
    if (name == "values") {
      List l;
      for (const auto& kv : obj.dict()) l.push_back(kv.second);
      return Value(std::move(l));
    }
    if (name == "get") {
      const Value k = a.get(0, "key");
      const Value* v = k.is_string() ? obj.find(k.str().text) : nullptr;
      return v ? *v : a.get(1, "default", Value::none());
    }
  }
  if (obj.is_list() && name == "index") {
    const Value x = a.get(0, "value");
    for (size_t i = 0; i < obj.list().size(); ++i)
      if (equal(obj.list()[i], x)) return Value(static_cast<int64_t>(i));
    cx.fail(line, "index: value is not in the list");
  }
  if (obj.is_list() && name == "count") {
    int64_t n = 0;
    for (const auto& x : obj.list()) n += equal(x, a.get(0, "value"));
    return Value(n);
  }
  if (obj.is_namespace() || obj.is_dict() || obj.is_list())
    cx.fail(line, "'" + name + "' is not a method of " + (obj.is_list() ? "lists" : "dicts"));
  cx.fail(line, "cannot call ." + name + " on " + repr(obj));
}

inline Value attr_of(const Value& v, const Value& attribute) {
  if (!attribute.is_string()) return Value();
  Value cur = v;
  for (const auto& part : split(attribute.str(), Value::literal("."), -1)) {
    const Value* x = cur.find(part.str().text);
    if (!x) return Value();
    cur = *x;
  }
  return cur;
}

inline Value apply_filter(Context& cx, int line, const std::string& name, const Value& v, Args& a) {
  const auto need_string = [&]() -> const Str& {
    if (!v.is_string()) cx.fail(line, "filter '" + name + "' needs a string, found " + repr(v));
    return v.str();
  };
  if (name == "trim") return Value(strip_chars(need_string(), a.get(0, "chars"), true, true));
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value(static_cast<int64_t>(v.str().text.size()));
    if (v.is_list()) return Value(static_cast<int64_t>(v.list().size()));
    if (v.is_dict()) return Value(static_cast<int64_t>(v.dict().size()));
    if (v.is_undefined()) return Value(int64_t{0});
    cx.fail(line, "filter 'length' needs a string, list or dict");
  }
  if (name == "tojson") {
    const Value ind = a.get(0, "indent");
    std::string out;
    to_json(v, ind.is_number() ? static_cast<int>(ind.integer()) : -1, 0, out);
    return Value(Str::data(out));
  }
  if (name == "string") return Value(to_str(v));
  if (name == "list") return Value(iterate(cx, line, v));
  if (name == "first" || name == "last") {
    const List l = iterate(cx, line, v);
    if (l.empty()) return Value();
    return name == "first" ? l.front() : l.back();
  }
  if (name == "default" || name == "d") {
    const bool use_default = v.is_undefined() || (truthy(a.get(1, "boolean", Value(false))) && !truthy(v));
    return use_default ? a.get(0, "default_value", Value::literal("")) : v;
  }
  if (name == "lower") return Value(map_chars(need_string(), [](int c) { return std::tolower(c); }));
  if (name == "upper") return Value(map_chars(need_string(), [](int c) { return std::toupper(c); }));
  if (name == "capitalize") return Value(capitalize(need_string()));
  if (name == "title") return Value(title(need_string()));
  if (name == "replace") {
    const Value from = a.get(0, "old"), to = a.get(1, "new"), count = a.get(2, "count");
    if (!from.is_string() || !to.is_string()) cx.fail(line, "replace needs two strings");
    return Value(replace(need_string(), from.str(), to.str(), count.is_number() ? count.integer() : -1));
  }
  if (name == "join") {
    const Value sep = a.get(0, "d", Value::literal(""));
    const Value attribute = a.get(1, "attribute");
    Str out;
    const List items = iterate(cx, line, v);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out.append(to_str(sep));
      out.append(to_str(attribute.is_undefined() ? items[i] : attr_of(items[i], attribute)));
    }
    return Value(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      Str s = v.str();
      std::reverse(s.text.begin(), s.text.end());
      std::reverse(s.from_data.begin(), s.from_data.end());
      return Value(std::move(s));
    }
    List l = iterate(cx, line, v);
    std::reverse(l.begin(), l.end());
    return Value(std::move(l));
  }
  if (name == "int") {
    if (v.is_number()) return Value(v.integer());
    if (v.is_string()) {
      try {
        return Value(static_cast<int64_t>(std::stoll(v.str().text)));
      } catch (const std::exception&) {
      }
    }
    return a.get(0, "default", Value(int64_t{0}));
  }
  if (name == "float") return v.is_number() ? Value(v.number()) : a.get(0, "default", Value(0.0));
  if (name == "abs") {
    if (!v.is_number()) cx.fail(line, "filter 'abs' needs a number");
    if (v.kind() == Value::Kind::integer && v.integer() == INT64_MIN) cx.fail(line, "integer overflow");
    return v.kind() == Value::Kind::integer ? Value(v.integer() < 0 ? -v.integer() : v.integer()) : Value(std::fabs(v.number()));
  }
  if (name == "items") return call_method(cx, line, v, "items", a);
  if (name == "safe" || name == "e" || name == "escape") return v;  // chat templates render without autoescape
  if (name == "map") {
    const Value attribute = a.get(99, "attribute");
    List out;
    for (const auto& x : iterate(cx, line, v)) {
      if (!attribute.is_undefined()) {
        out.push_back(attr_of(x, attribute));
      } else {
        if (a.positional.empty() || !a.positional[0].is_string()) cx.fail(line, "map needs a filter name or attribute=");
        Args rest;
        rest.positional.assign(a.positional.begin() + 1, a.positional.end());
        out.push_back(apply_filter(cx, line, a.positional[0].str().text, x, rest));
      }
    }
    return Value(std::move(out));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    const bool by_attr = name == "selectattr" || name == "rejectattr";
    const bool keep_if = name == "selectattr" || name == "select";
    const size_t test_at = by_attr ? 1 : 0;
    List out;
    for (const auto& x : iterate(cx, line, v)) {
      const Value subject = by_attr ? attr_of(x, a.get(0, "attribute")) : x;
      bool ok;
      if (a.positional.size() > test_at) {
        if (!a.positional[test_at].is_string()) cx.fail(line, name + ": the test name must be a string");
        Args rest;
        rest.positional.assign(a.positional.begin() + static_cast<long>(test_at) + 1, a.positional.end());
        ok = apply_test(cx, line, a.positional[test_at].str().text, subject, rest);
      } else {
        ok = truthy(subject);
      }
      if (ok == keep_if) out.push_back(x);
    }
    return Value(std::move(out));
  }
  if (name == "unique") {
    List out;
    for (const auto& x : iterate(cx, line, v))
      if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return equal(x, y); })) out.push_back(x);
    return Value(std::move(out));
  }
  if (name == "indent") {
    const Str& s = need_string();
    const int64_t width = a.get(0, "width", Value(int64_t{4})).integer();
    const bool first = truthy(a.get(1, "first", Value(false)));
    const Str pad = Str::literal(std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' '));
    Str out;
    if (first) out.append(pad);
    for (size_t i = 0; i < s.text.size(); ++i) {
      out.append(s.substr(i, 1));
      if (s.text[i] == '\n' && i + 1 < s.text.size() && s.text[i + 1] != '\n') out.append(pad);
    }
    return Value(std::move(out));
  }
  cx.fail(line, "unknown filter '" + name + "'");
}

inline bool apply_test(Context& cx, int line, const std::string& name, const Value& v, Args& a) {
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind() == K::integer;
  if (name == "float") return v.kind() == K::floating;
  if (name == "boolean") return v.kind() == K::boolean;
  if (name == "true") return v.kind() == K::boolean && v.boolean();
  if (name == "false") return v.kind() == K::boolean && !v.boolean();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.kind() == K::function;
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return equal(v, a.get(0, "other"));
  if (name == "ne" || name == "!=") return !equal(v, a.get(0, "other"));
  if (name == "in") return contains(cx, line, v, a.get(0, "seq"));
  if (name == "lt" || name == "gt" || name == "le" || name == "ge") {
    const int c = compare(cx, line, v, a.get(0, "other"));
    return name == "lt" ? c < 0 : name == "gt" ? c > 0 : name == "le" ? c <= 0 : c >= 0;
  }
  if (name == "even" || name == "odd") {
    if (v.kind() != K::integer) cx.fail(line, "test '" + name + "' needs an integer");
    return (v.integer() % 2 == 0) == (name == "even");
  }
  if (name == "divisibleby") {
    const int64_t d = a.get(0, "num").integer();
    if (d == 0) cx.fail(line, "divisibleby 0");
    return v.integer() % d == 0;
  }
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    for (unsigned char c : v.str().text)
      if (name == "lower" ? std::isupper(c) : std::islower(c)) return false;
    return true;
  }
  cx.fail(line, "unknown test '" + name + "'");
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

// Converts parsed JSON-like data (from a request) into values whose strings are marked as data.
template <typename Json>
Value from_json(const Json& j) {
  if (j.is_null()) return Value::none();
  if (j.is_boolean()) return Value(j.template get<bool>());
  if (j.is_number_integer()) return Value(j.template get<int64_t>());
  if (j.is_number()) return Value(j.template get<double>());
  if (j.is_string()) return Value(Str::data(j.template get<std::string>()));
  if (j.is_array()) {
    List l;
    for (const auto& x : j) l.push_back(from_json(x));
    return Value(std::move(l));
  }
  Dict d;
  for (auto it = j.begin(); it != j.end(); ++it) d.emplace_back(it.key(), from_json(it.value()));
  return Value(std::move(d));
}

class Template {
 public:
  explicit Template(std::string_view source)
      : body_(std::make_shared<detail::Body>(detail::Parser(detail::Lexer(source).run()).parse_template())) {}

  // context: a dict of variables (messages, add_generation_prompt, bos_token, ...).
  Str render(const Value& context) const {
    using namespace detail;
    Scope globals(nullptr);
    install_globals(globals);
    Scope top(&globals);
    if (context.is_dict())
      for (const auto& [k, v] : context.dict()) top.set(k, v);
    Context cx;
    cx.scope = &top;
    Str out;
    LoopSignal sig;
    render_body(*body_, cx, out, sig);
    return out;
  }

 private:
  std::shared_ptr<detail::Body> body_;

  static void install_globals(detail::Scope& g) {
    g.set("raise_exception", Value(Function([](Args& a) -> Value {
      throw Error(detail::python_str(a.get(0, "message")));
    })));
    g.set("namespace", Value(Function([](Args& a) {
      Value ns(Dict{}, true);
      if (!a.positional.empty() && a.positional[0].is_dict())
        for (const auto& [k, v] : a.positional[0].dict()) ns.set(k, v);
      for (const auto& [k, v] : a.named) ns.set(k, v);
      return ns;
    })));
    g.set("dict", Value(Function([](Args& a) {
      Value d{Dict{}};
      for (const auto& [k, v] : a.named) d.set(k, v);
      return d;
    })));
    g.set("range", Value(Function([](Args& a) {
      int64_t start = 0, stop, step = 1;
      if (a.positional.size() == 1) {
        stop = a.positional[0].integer();
      } else if (a.positional.size() >= 2) {
        start = a.positional[0].integer();
        stop = a.positional[1].integer();
        if (a.positional.size() > 2) step = a.positional[2].integer();
      } else {
        throw Error("range() needs 1 to 3 arguments");
      }
      if (step == 0) throw Error("range() step cannot be zero");
      List l;
      for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
        l.push_back(Value(i));
        if (l.size() > 100000) throw Error("range() is too long");
        if (__builtin_add_overflow(i, step, &i)) break;
      }
      return Value(std::move(l));
    })));
    g.set("strftime_now", Value(Function([](Args& a) {
      const Value fmt = a.get(0, "format");
      if (!fmt.is_string()) throw Error("strftime_now needs a format string");
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, fmt.str().text.c_str(), &tm);
      return Value::literal(std::string(buf, n));
    })));
  }
};

}  // namespace llmc::jinja
