// Chat templates: how a user turn is written for the families that ship one. Each is the text the
// model's own Jinja template produces for a single user message followed by the assistant prompt.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace llmc {

struct ChatTemplate {
  const char* name;
  const char* user_prefix;       // before the user's message
  const char* user_suffix;       // after it, up to where the assistant's reply begins
  const char* end_of_turn;       // what the model emits to end its reply
  const char* between_turns;     // written after the model's end_of_turn before the next user turn
};

inline const std::vector<ChatTemplate>& chat_templates() {
  static const std::vector<ChatTemplate> all = {
      {"llama3", "<|start_header_id|>user<|end_header_id|>\n\n",
       "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>", ""},
      {"chatml", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>", "\n"},
      {"gemma", "<start_of_turn>user\n", "<end_of_turn>\n<start_of_turn>model\n", "<end_of_turn>", "\n"},
      {"phi3", "<|user|>\n", "<|end|>\n<|assistant|>\n", "<|end|>", "\n"},
      {"llama2", "[INST] ", " [/INST]", "</s>", ""},
  };
  return all;
}

inline const ChatTemplate* find_chat_template(std::string_view name) {
  for (const auto& t : chat_templates())
    if (name == t.name) return &t;
  return nullptr;
}

inline std::string chat_template_names() {
  std::string names;
  for (const auto& t : chat_templates()) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

// The text of one user turn; `first` is the first turn of the conversation.
inline std::string format_user_turn(const ChatTemplate& t, std::string_view message, bool first) {
  std::string text = first ? "" : t.between_turns;
  text += t.user_prefix;
  text += message;
  text += t.user_suffix;
  return text;
}

}  // namespace llmc
