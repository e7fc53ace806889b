// Internals of `llmc import` shared by its readers (config.json here, GGUF metadata later) and the family
// importers: the config with errors naming file and key, and the tables of checkpoint tensor names.
#pragma once
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "import.hpp"
#include "llmc/error.hpp"

namespace llmc::import_detail {
using nlohmann::json;

// config.json with errors that name the file and key.
class Config {
 public:
  Config(json j, std::string file) : j_(std::move(j)), file_(std::move(file)) {}

  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }
  const json& raw(const std::string& key) const { return j_.at(key); }

  template <typename T>
  T req(const std::string& key) const {
    if (!has(key)) throw Error(fmt::format("{}: key '{}' is missing", file_, key));
    return as<T>(key);
  }
  template <typename T>
  T get(const std::string& key, T fallback) const {
    return has(key) ? as<T>(key) : fallback;
  }
  // The first of several alternative keys that is present.
  template <typename T>
  T req_any(std::initializer_list<const char*> keys) const {
    for (const char* k : keys)
      if (has(k)) return as<T>(k);
    throw Error(fmt::format("{}: none of the keys {} is present", file_, fmt::join(keys, ", ")));
  }
  int64_t token(const std::string& key) const {  // an id, or the first of a list, or -1
    if (!has(key)) return -1;
    const json& v = j_[key];
    if (v.is_array()) return v.empty() ? -1 : v[0].get<int64_t>();
    return as<int64_t>(key);
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("{}: key '{}': {}", file_, key, what));
  }
  const std::string& file() const { return file_; }
  void set(const std::string& key, const json& value) { j_[key] = value; }

 private:
  template <typename T>
  T as(const std::string& key) const {
    try {
      return j_[key].get<T>();
    } catch (const json::exception&) {
      fail(key, fmt::format("has an unexpected type ({})", j_[key].dump()));
    }
  }
  json j_;
  std::string file_;
};

// The context a spec gets: the one asked for, else the checkpoint's own capped at kDefaultContextCap.
int64_t context_for(int64_t checkpoint_context, const ImportOptions& o);

// An activation named in a config (hidden_act and its aliases); fails naming the key.
Activation activation_from(const Config& c, const std::string& key, const std::string& name);

// Tensor names of the checkpoint beside config.json (model.safetensors or its sharded index), or none.
std::set<std::string> checkpoint_names(const std::string& config_file);

// One family's checkpoint tensor names: every role its models may read. Which of them a spec uses follows from
// the spec's fields (plan's tensor_roles), so a family states its names once, as data.
struct NameTable {
  std::map<std::string, std::string> global;        // model-wide role ("embed", "final_norm", ...) -> name
  std::string layer_prefix;                          // "{i}" stands for the layer index
  std::map<std::string, std::string> layer;          // role -> name after the prefix
  std::vector<std::string> unused;                   // checkpoint tensors the model does not read (patterns)

  // This table with some layer names added or replaced, and others dropped.
  NameTable with(std::map<std::string, std::string> changed, std::vector<std::string> dropped = {}) const;
};

// Names s.weights from the table: the model-wide and layer tensors the spec's fields call for, each from the
// table (an internal error if the table lacks one). The layer roles that exist only as a choice in the table
// (a separate feed-forward norm beside a parallel attention) are decided by whether the table names them.
void name_tensors(Spec& s, const NameTable& table);

// A family importer: the spec's fields from the config, and its names.
using FamilyImporter = std::function<void(const Config&, Spec&, const ImportOptions&)>;

// model_type -> importer, for every family `llmc import` reads.
const std::map<std::string, FamilyImporter>& family_importers();

// The encoders' importers (import_encoders.cpp): bert, roberta.
const std::map<std::string, FamilyImporter>& encoder_importers();

// Names s.weights as Hugging Face's Llama checkpoints do (the llama2.c reader exposes its tensors so).
void name_llama_tensors(Spec& s);

}  // namespace llmc::import_detail
