#include <doctest/doctest.h>

#include "llmc/chat.hpp"
#include "llmc/driver.hpp"

using namespace llmc;

TEST_SUITE("chat") {
  TEST_CASE("user turns render as the families' own templates do") {
    // Llama 3 (BOS comes from the tokenizer's add_bos on the first turn).
    CHECK(format_user_turn(*find_chat_template("llama3"), "Hi", true) ==
          "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    // Qwen (ChatML): the reply ends with <|im_end|>, and the next turn starts on a new line.
    CHECK(format_user_turn(*find_chat_template("chatml"), "Hi", true) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    CHECK(format_user_turn(*find_chat_template("chatml"), "Again", false) ==
          "\n<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\n");
    CHECK(format_user_turn(*find_chat_template("gemma"), "Hi", true) ==
          "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
    CHECK(format_user_turn(*find_chat_template("phi3"), "Hi", true) == "<|user|>\nHi<|end|>\n<|assistant|>\n");
  }

  TEST_CASE("never a double BOS") {
    std::vector<int> ids = {1, 1, 5};
    drop_double_bos(ids, 1);
    CHECK(ids == std::vector<int>{1, 5});
    drop_double_bos(ids, 1);
    CHECK(ids == std::vector<int>{1, 5});
    std::vector<int> none = {7, 7};
    drop_double_bos(none, -1);
    CHECK(none.size() == 2);
  }

  TEST_CASE("unknown template names") {
    CHECK(find_chat_template("vicuna") == nullptr);
    CHECK(chat_template_names().find("chatml") != std::string::npos);
  }
}
