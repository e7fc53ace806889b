// `llmc import`: the chat template of a Hugging Face model folder, recorded in the spec (chat:).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "import.hpp"
#include "llmc/error.hpp"

namespace llmc {
namespace fs = std::filesystem;

namespace {

// tokenizer_config.json writes a special token as "text" or as {"content": "text", ...}.
std::string token_text(const nlohmann::json& cfg, const char* key, const std::string& file) {
  const auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  throw Error(file + ": " + key + " is neither a string nor {\"content\": ...}");
}

// "chat_template": "..." or [{"name": "default", "template": "..."}, {"name": "tool_use", ...}].
std::string template_from_config(const nlohmann::json& cfg, const std::string& file) {
  const auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    for (const auto& t : *it)
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
        return t["template"].get<std::string>();
    throw Error(file + ": chat_template is a list without a template named \"default\"");
  }
  throw Error(file + ": chat_template is neither a string nor a list of named templates");
}

}  // namespace

ChatSpec import_chat_template(const std::string& model_folder) {
  ChatSpec chat;
  const fs::path config = fs::path(model_folder) / "tokenizer_config.json";
  nlohmann::json cfg = nlohmann::json::object();
  if (fs::exists(config)) {
    std::ifstream in(config, std::ios::binary);
    try {
      cfg = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(config.string() + ": not valid JSON: " + e.what());
    }
    chat.template_text = template_from_config(cfg, config.string());
    chat.bos_token = token_text(cfg, "bos_token", config.string());
    chat.eos_token = token_text(cfg, "eos_token", config.string());
  }
  // Newer transformers save the template beside the config; it takes precedence there too.
  const fs::path jinja = fs::path(model_folder) / "chat_template.jinja";
  if (fs::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    chat.template_text = text.str();
  }
  return chat;
}

}  // namespace llmc
