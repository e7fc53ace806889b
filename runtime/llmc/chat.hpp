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
  // The family's Jinja template (as its tokenizer_config.json has it) and the bos/eos text it is rendered
  // with: what the server renders when --chat-template NAME overrides the spec's template.
  const char* jinja;
  const char* bos_text;
  const char* eos_text;
};

inline const std::vector<ChatTemplate>& chat_templates() {
  static const std::vector<ChatTemplate> all = {
      // meta-llama/Meta-Llama-3-8B-Instruct
      {"llama3", "<|start_header_id|>user<|end_header_id|>\n\n",
       "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>", "",
       R"J({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }})J",
       "<|begin_of_text|>", "<|eot_id|>"},
      // ChatML (Qwen; teknium/OpenHermes-2.5-Mistral-7B's template)
      {"chatml", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>", "\n",
       R"J({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})J",
       "", "<|im_end|>"},
      // google/gemma-7b-it, gemma-2
      {"gemma", "<start_of_turn>user\n", "<end_of_turn>\n<start_of_turn>model\n", "<end_of_turn>", "\n",
       R"J({{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %})J",
       "<bos>", "<eos>"},
      // microsoft/Phi-3-mini-4k-instruct
      {"phi3", "<|user|>\n", "<|end|>\n<|assistant|>\n", "<|end|>", "\n",
       R"J({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %})J",
       "<s>", "<|endoftext|>"},
      // meta-llama/Llama-2-13b-chat-hf
      {"llama2", "[INST] ", " [/INST]", "</s>", "",
       R"J({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})J",
       "<s>", "</s>"},
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
