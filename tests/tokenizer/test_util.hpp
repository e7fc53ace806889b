// Helpers shared by the tokenizer tests.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef LLMC_TOK_DATA_DIR
#error "LLMC_TOK_DATA_DIR must point at tests/data/tokenizers"
#endif

namespace tok_test {

inline std::string data_path(const std::string& rel) { return std::string(LLMC_TOK_DATA_DIR) + "/" + rel; }

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("test data missing: " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<int> parse_ids(const std::string& line) {
  std::vector<int> v;
  std::istringstream is(line);
  int x;
  while (is >> x) v.push_back(x);
  return v;
}

// "key: 1 2 3" lines of the golden .ids files
inline std::vector<int> ids_field(const std::string& text, const std::string& key) {
  std::istringstream is(text);
  std::string line;
  while (std::getline(is, line))
    if (line.rfind(key + ":", 0) == 0) return parse_ids(line.substr(key.size() + 1));
  throw std::runtime_error("no field " + key);
}

inline std::string show(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

}  // namespace tok_test
