#include "tokenize_cmd.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "llmc/tokenizer.hpp"

namespace llmc {

namespace {
// CLI11 runs these callbacks inside app.parse(): report errors here and leave through CLI::RuntimeError,
// which app.exit() turns into the exit code without printing anything more.
template <class F>
void guarded(F&& f) {
  try {
    f();
  } catch (const CLI::Error&) {
    throw;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "llmc: error: %s\n", e.what());
    throw CLI::RuntimeError(1);
  }
}

struct TokenizeOptions {
  std::string tokenizer;
  bool bos = false, no_bos = false;
  std::vector<std::string> text;
};
struct DetokenizeOptions {
  std::string tokenizer;
  std::vector<std::string> ids;
};
}  // namespace

void add_tokenizer_commands(CLI::App& app) {
  auto topt = std::make_shared<TokenizeOptions>();
  auto* tok = app.add_subcommand("tokenize", "Print the token ids of a text (space-separated, one line)");
  tok->add_option("--tokenizer,-t", topt->tokenizer,
                  "tokenizer file: llama2.c tokenizer.bin, tokenizer.model / spiece.model, tokenizer.json, encoder.json, "
                  "BERT vocab.txt, GGUF")
      ->required();
  auto* bos = tok->add_flag("--bos", topt->bos, "prepend the BOS token (default: as the model does)");
  tok->add_flag("--no-bos", topt->no_bos, "do not prepend the BOS token")->excludes(bos);
  tok->add_option("text", topt->text, "the text (several arguments are joined with spaces)")->required();
  tok->callback([topt]() { guarded([&] {
    auto t = Tokenizer::load(topt->tokenizer);
    std::string text;
    for (size_t i = 0; i < topt->text.size(); ++i) text += (i ? " " : "") + topt->text[i];
    const bool add_bos = topt->bos || (!topt->no_bos && t->add_bos_default());
    auto ids = t->encode(text, add_bos);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::cout << line << "\n";
  }); });

  auto dopt = std::make_shared<DetokenizeOptions>();
  auto* det = app.add_subcommand("detokenize", "Print the text of token ids");
  det->add_option("--tokenizer,-t", dopt->tokenizer, "tokenizer file (as for tokenize)")->required();
  det->add_option("ids", dopt->ids, "token ids (separate arguments, or one argument with spaces)")->required();
  det->callback([dopt]() { guarded([&] {
    auto t = Tokenizer::load(dopt->tokenizer);
    std::vector<int> ids;
    for (const auto& arg : dopt->ids) {
      size_t i = 0;
      while (i < arg.size()) {
        while (i < arg.size() && (arg[i] == ' ' || arg[i] == ',' || arg[i] == '\t' || arg[i] == '\n')) ++i;
        if (i == arg.size()) break;
        size_t j = i;
        if (arg[j] == '-' || arg[j] == '+') ++j;
        while (j < arg.size() && arg[j] >= '0' && arg[j] <= '9') ++j;
        std::string num = arg.substr(i, j - i);
        if (num.empty() || num == "-" || num == "+" || (j < arg.size() && arg[j] != ' ' && arg[j] != ',' &&
                                                        arg[j] != '\t' && arg[j] != '\n'))
          throw Error("detokenize: '" + arg + "' is not a list of token ids");
        long long v = 0;
        try {
          v = std::stoll(num);
        } catch (const std::exception&) {
          throw Error("detokenize: token id '" + num + "' is out of range");
        }
        if (v < -2147483648LL || v > 2147483647LL) throw Error("detokenize: token id '" + num + "' is out of range");
        ids.push_back(static_cast<int>(v));
        i = j;
      }
    }
    std::string text = t->decode(ids);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }); });
}

}  // namespace llmc
