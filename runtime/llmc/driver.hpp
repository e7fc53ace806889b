// The command line of every generated binary. Knows nothing of any model beyond what the
// generated source publishes through llmc/model.hpp (sizes, special tokens, forward()).
#pragma once
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "llmc/chat.hpp"
#include "llmc/embedded.hpp"
#include "llmc/error.hpp"
#include "llmc/model.hpp"
#include "llmc/sampler.hpp"
#include "llmc/server.hpp"
#include "llmc/threads.hpp"
#include "llmc/tokenizer.hpp"
#include "llmc/weights_loader.hpp"

namespace llmc {

// Writes a file under a temporary name and renames it into place on commit(): never half-written.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp" + std::to_string(::getpid())) {
    out_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!out_) throw Error(path_ + ": cannot write (" + std::strerror(errno) + ")");
  }
  ~AtomicFile() {
    if (!committed_) {
      out_.close();
      std::remove(tmp_.c_str());
    }
  }
  void write(const void* data, size_t bytes) { out_.write(static_cast<const char*>(data), static_cast<long>(bytes)); }
  void commit() {
    out_.close();
    if (!out_) throw Error(path_ + ": write failed");
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw Error(path_ + ": cannot rename into place");
    committed_ = true;
  }

 private:
  std::string path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Comma-separated ids of `option` (--tokens, --decoder-tokens), each below vocab.
inline std::vector<int> parse_token_list(const std::string& text, int vocab, const std::string& option = "--tokens") {
  std::vector<int> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    if (item.empty() || used != item.size()) throw Error(option + ": '" + item + "' is not a token id");
    if (v < 0 || v >= vocab)
      throw Error(option + ": token id " + item + " is out of range (vocabulary has " + std::to_string(vocab) + " ids)");
    ids.push_back(static_cast<int>(v));
  }
  if (ids.empty()) throw Error(option + ": no token ids given");
  return ids;
}

// A prompt that already starts with the BOS text (e.g. pasted from a chat template) gets no second BOS.
inline void drop_double_bos(std::vector<int>& tokens, int bos) {
  if (bos >= 0 && tokens.size() >= 2 && tokens[0] == bos && tokens[1] == bos) tokens.erase(tokens.begin());
}

struct RunOptions {
  std::string weights, tokenizer, prompt, tokens, logits_file, stop, chat_template;
  std::string decoder_tokens;  // encoder–decoders: the decoder's input ids (default: the decoder start token)
  int new_tokens = 64;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool print_ids = false, ignore_eos = false, no_bos = false, chat = false;
  SamplerConfig sampler;
  bool serve = false;
  ServeOptions server;
};

// One sequence of a model: its state (KV cache) and position, the tokens fed so far and the sampler.
class Session {
 public:
  enum class Stop { length, eos, stop_string, context_full };

  Session(Model& model, const ModelInfo& info, const SamplerConfig& sampler, AtomicFile* logits_out)
      : model_(model), info_(info), state_(model.new_state()), sampler_(sampler, info.vocab), logits_out_(logits_out),
        last_(static_cast<size_t>(info.vocab)) {
    on_logits_ = [this](const float* row) {
      if (logits_out_) logits_out_->write(row, sizeof(float) * info_.vocab);
      std::copy(row, row + info_.vocab, last_.begin());
    };
  }

  int position() const { return pos_; }
  const std::vector<int>& history() const { return history_; }

  // Encoder–decoders: encodes the source into this sequence's state; the decoder starts over at position 0.
  void encode_source(const std::vector<int>& source) {
    model_.encode_source(*state_, source.data(), static_cast<int>(source.size()));
    pos_ = 0;
    pending_ = -1;
    history_.clear();
  }

  // Feeds tokens (after the last sampled one, if it was not fed yet).
  void feed(std::vector<int> ids) {
    if (pending_ >= 0) ids.insert(ids.begin(), std::exchange(pending_, -1));
    if (ids.empty()) return;
    if (pos_ + static_cast<int64_t>(ids.size()) > info_.context)
      throw Error("the input needs " + std::to_string(pos_ + ids.size()) + " positions, more than the model's context of " +
                  std::to_string(info_.context));
    model_.forward(*state_, ids.data(), static_cast<int>(ids.size()), pos_, logits_out_ != nullptr, on_logits_);
    pos_ += static_cast<int>(ids.size());
    history_.insert(history_.end(), ids.begin(), ids.end());
  }

  // Samples up to max_new tokens, feeding each back. on_token(id) returns true to stop after that token.
  template <typename OnToken>
  Stop generate(int max_new, bool ignore_eos, OnToken&& on_token) {
    for (int made = 0; made < max_new; ++made) {
      if (pending_ >= 0) feed({});
      const int next = sampler_.sample(last_.data(), history_);
      pending_ = next;
      if (on_token(next)) return Stop::stop_string;
      if (!ignore_eos && next == info_.eos) return Stop::eos;
      if (made + 1 == max_new) break;
      if (pos_ >= info_.context) return Stop::context_full;
    }
    return Stop::length;
  }

 private:
  Model& model_;
  const ModelInfo& info_;
  std::unique_ptr<State> state_;
  Sampler sampler_;
  AtomicFile* logits_out_;
  std::vector<float> last_;
  std::function<void(const float*)> on_logits_;
  std::vector<int> history_;
  int pos_ = 0, pending_ = -1;
};

inline void report_context_full(const ModelInfo& info) {
  std::fprintf(stderr, "stopped: the context of %d tokens is full\n", info.context);
}

// Interactive: one user turn per line of standard input, formatted with the model's chat template.
inline void run_chat(const RunOptions& o, const Tokenizer& tokenizer, Session& session, const ModelInfo& info) {
  const ChatTemplate* tmpl = find_chat_template(o.chat_template);
  if (!tmpl)
    throw Error("--chat-template: '" + o.chat_template + "' is not one of: " + chat_template_names());
  const std::vector<int> end_ids = tokenizer.encode(tmpl->end_of_turn, false);
  const int end_id = end_ids.size() == 1 ? end_ids[0] : -1;
  std::string line;
  bool first = true;
  std::fprintf(stderr, "chat (%s template); one message per line, end with Ctrl-D\n", tmpl->name);
  while (true) {
    std::fputs("> ", stderr);
    if (!std::getline(std::cin, line)) break;
    session.feed(tokenizer.encode(format_user_turn(*tmpl, line, first), first && info.add_bos && !o.no_bos));
    first = false;
    TextStream text(tokenizer);
    std::string reply;
    const Session::Stop stop = session.generate(o.new_tokens, false, [&](int id) {
      if (id == end_id) return true;
      reply += text.push(id);
      const size_t end = reply.find(tmpl->end_of_turn);
      return end != std::string::npos;
    });
    reply += text.flush();
    if (const size_t end = reply.find(tmpl->end_of_turn); end != std::string::npos) reply.resize(end);
    std::printf("%s\n", reply.c_str());
    std::fflush(stdout);
    if (stop == Session::Stop::context_full) {
      report_context_full(info);
      break;
    }
    if (stop == Session::Stop::eos) session.feed({});
    if (stop != Session::Stop::eos && stop != Session::Stop::stop_string)
      session.feed(tokenizer.encode(tmpl->end_of_turn, false));  // close a reply cut by -n
  }
}

// Whether path is a GGUF file with a vocabulary (tokenizer.ggml.tokens).
inline bool gguf_has_vocabulary(const std::string& path) {
  if (!gguf::is_gguf_file(path)) return false;
  const MappedFile file(path);
  return gguf::find(gguf::parse(path, file.data(), file.size()), "tokenizer.ggml.tokens") != nullptr;
}

// Binds the weights; names, shapes and the set of tensors are checked against what this model needs.
inline std::unique_ptr<Model> load_model(WeightStore& store, const ModelInfo& info) {
  try {
    std::unique_ptr<Model> model = make_model(store);
    store.finish(info.unused_weights);
    return model;
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "\n(this binary is " + info.name + ": " + info.description +
                "; are these the weights of another model?)");
  }
}

// The server's sequences: one State per slot; a step decodes all of them in one Model::decode().
class ModelSequences : public Sequences {
 public:
  ModelSequences(Model& model, int slots) : model_(model) {
    for (int i = 0; i < slots; ++i) states_.push_back(model.new_state());
  }
  int count() const override { return static_cast<int>(states_.size()); }
  void prefill(int seq, const int* tokens, int n, int pos, const std::function<void(const float*)>& on_last) override {
    State& state = *states_[static_cast<size_t>(seq)];
    if (pos == 0) state.reset();  // a new sequence: no recurrent state left from the slot's last request
    model_.forward(state, tokens, n, pos, false, on_last);
  }
  bool prefix_reusable() const override { return model_.state_layout().fixed_bytes == 0; }
  void decode(const int* seqs, const int* tokens, const int* pos, int n,
              const std::function<void(int, const float*)>& on_logits) override {
    step_.clear();
    for (int i = 0; i < n; ++i) step_.push_back(states_[static_cast<size_t>(seqs[i])].get());
    model_.decode(step_.data(), tokens, pos, n, on_logits);
  }

 private:
  Model& model_;
  std::vector<std::unique_ptr<State>> states_;
  std::vector<State*> step_;
};

// --serve: loads the model and tokenizer, then answers OpenAI API requests until SIGINT/SIGTERM.
inline int run_server(const RunOptions& o, const ModelInfo& info) {
  if (o.tokenizer.empty()) throw Error("--serve needs --tokenizer FILE");
  if (o.server.parallel < 1 || o.server.parallel > 256)
    throw Error("--parallel: expected 1..256 slots, found " + std::to_string(o.server.parallel));
  if (o.server.port < 0 || o.server.port > 65535) throw Error("--port: expected 0..65535, found " + std::to_string(o.server.port));
  set_threads(o.threads);
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::load(o.tokenizer);
  if (tokenizer->vocab_size() > info.vocab)
    throw Error(o.tokenizer + ": tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                " tokens but the model's vocabulary has " + std::to_string(info.vocab));
  WeightStore store = WeightStore::open(o.weights);
  std::unique_ptr<Model> model = load_model(store, info);
  ServeOptions so = o.server;
  so.tokenizer_path = o.tokenizer;
  so.chat_template = o.chat_template;
  ModelSequences sequences(*model, o.server.parallel);
  Scheduler scheduler(sequences, *tokenizer, info.vocab, info.context);
  OpenAiServer server(scheduler, *tokenizer, info, so);
  return server.run();
}

inline int run_model(const RunOptions& o) {
  const ModelInfo& info = model_info();
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  if (o.new_tokens < 0) throw Error("-n: expected a number of new tokens >= 0, found " + std::to_string(o.new_tokens));
  if (o.threads < 1 || o.threads > 4096)
    throw Error("--threads: expected 1..4096, found " + std::to_string(o.threads));
  const SamplerConfig& sc = o.sampler;
  const auto bad_float = [](const char* opt, float v, const char* expected) {
    return Error(std::string(opt) + ": expected " + expected + ", found " + std::to_string(v));
  };
  if (!(sc.temperature >= 0.0f && std::isfinite(sc.temperature))) throw bad_float("--temp", sc.temperature, "a number >= 0");
  if (!(sc.top_p > 0.0f && sc.top_p <= 1.0f)) throw bad_float("--top-p", sc.top_p, "a number in (0, 1]");
  if (!(sc.min_p >= 0.0f && sc.min_p <= 1.0f)) throw bad_float("--min-p", sc.min_p, "a number in [0, 1]");
  if (!(sc.repeat_penalty > 0.0f && std::isfinite(sc.repeat_penalty)))
    throw bad_float("--repeat-penalty", sc.repeat_penalty, "a number > 0");
  if (sc.top_k < 0) throw Error("--top-k: expected a number >= 0, found " + std::to_string(sc.top_k));
  // An encoder–decoder (T5): --prompt / --tokens is the encoder input, the decoder starts from its start token.
  const bool seq2seq = info.decoder_start >= 0;
  if (!o.decoder_tokens.empty() && !seq2seq)
    throw Error("--decoder-tokens: this model is not an encoder–decoder; give its input with --prompt or --tokens");
  if (!o.decoder_tokens.empty() && o.prompt.empty() && o.tokens.empty())
    throw Error("--decoder-tokens: the decoder reads an encoder input: give it with --prompt TEXT or --tokens IDS");
  if (seq2seq && (o.serve || o.chat))
    throw Error(std::string(o.serve ? "--serve" : "--chat") + ": not available for an encoder–decoder model yet");
  if (o.serve) return run_server(o, info);
  if (!o.chat && o.prompt.empty() == o.tokens.empty()) throw Error("give exactly one of --prompt TEXT and --tokens IDS");
  set_threads(o.threads);

  const OwnPayload own = o.weights.empty() || o.tokenizer.empty() ? OwnPayload::find() : OwnPayload{};
  const bool has_text = !o.prompt.empty() || o.chat;
  // Without --tokenizer, a GGUF checkpoint's own vocabulary.
  const std::string tokenizer_file = o.tokenizer.empty() && gguf_has_vocabulary(o.weights) ? o.weights : o.tokenizer;
  std::unique_ptr<Tokenizer> tokenizer = open_run_tokenizer(tokenizer_file, o.weights, own, has_text);
  if (tokenizer && *info.tokenizer_kind && tokenizer->kind() != info.tokenizer_kind)
    throw Error((tokenizer_file.empty() ? std::string("the tokenizer") : tokenizer_file) + ": a " + tokenizer->kind() +
                " tokenizer, but this model's vocabulary is a " + info.tokenizer_kind + " tokenizer's");
  if (tokenizer && tokenizer->vocab_size() > info.vocab)
    throw Error((tokenizer_file.empty() ? std::string("the tokenizer") : tokenizer_file) + ": tokenizer has " +
                std::to_string(tokenizer->vocab_size()) + " tokens but the model's vocabulary has " +
                std::to_string(info.vocab));
  if (o.chat && !tokenizer) throw Error("--chat needs --tokenizer FILE (or GGUF weights)");
  std::vector<int> tokens;
  if (!o.tokens.empty()) {
    tokens = parse_token_list(o.tokens, info.vocab);
  } else if (!o.chat) {
    if (!tokenizer) throw Error("--prompt needs --tokenizer FILE or GGUF weights (or give ids with --tokens)");
    tokens = tokenizer->encode(o.prompt, info.add_bos && !o.no_bos);
    drop_double_bos(tokens, info.bos);
    // T5's tokenizer ends a source with </s>.
    if (seq2seq && info.add_eos && info.eos >= 0 && (tokens.empty() || tokens.back() != info.eos))
      tokens.push_back(info.eos);
    if (tokens.empty()) throw Error("--prompt: the prompt encodes to no tokens");
  }
  std::vector<int> decoder_input;  // encoder–decoders: what the decoder is fed first
  if (seq2seq && o.decoder_tokens.empty()) decoder_input = {info.decoder_start};
  if (seq2seq && !o.decoder_tokens.empty()) decoder_input = parse_token_list(o.decoder_tokens, info.vocab, "--decoder-tokens");
  if (static_cast<int>(tokens.size()) > info.context)
    throw Error("the prompt has " + std::to_string(tokens.size()) + " tokens, more than the model's context of " +
                std::to_string(info.context));

  const auto t_load = Clock::now();
  WeightStore store = open_run_weights(o.weights, own);
  std::unique_ptr<Model> model = load_model(store, info);

  std::optional<AtomicFile> logits_out;
  if (!o.logits_file.empty()) logits_out.emplace(o.logits_file);
  Session session(*model, info, o.sampler, logits_out ? &*logits_out : nullptr);
  if (o.chat) {
    run_chat(o, *tokenizer, session, info);
    if (logits_out) logits_out->commit();
    return 0;
  }

  std::optional<TextStream> text;
  if (tokenizer && !o.print_ids) {
    text.emplace(*tokenizer);
    if (!seq2seq)  // an encoder–decoder's output is not a continuation of its input: only the output is printed
      for (int id : tokens) std::fputs(text->push(id).c_str(), stdout);
    std::fflush(stdout);
  }

  const auto t_start = Clock::now();
  if (seq2seq) {
    session.encode_source(tokens);
    session.feed(decoder_input);
  } else {
    session.feed(tokens);
  }
  const auto t_first = Clock::now();

  std::vector<int> generated;
  std::string produced;
  const Session::Stop stop = session.generate(o.new_tokens, o.ignore_eos, [&](int id) {
    generated.push_back(id);
    if (!text) return false;
    const std::string piece = text->push(id);
    std::fputs(piece.c_str(), stdout);
    std::fflush(stdout);
    produced += piece;
    return !o.stop.empty() && produced.find(o.stop) != std::string::npos;
  });
  const auto t_end = Clock::now();
  if (text) std::fputs((text->flush() + "\n").c_str(), stdout);
  if (o.print_ids) {
    for (size_t i = 0; i < generated.size(); ++i) std::printf("%s%d", i ? "," : "", generated[i]);
    std::printf("\n");
  }
  std::fflush(stdout);
  if (logits_out) logits_out->commit();
  if (stop == Session::Stop::context_full) report_context_full(info);
  const double prefill = seconds(t_start, t_first), decode = seconds(t_first, t_end);
  std::fprintf(stderr,
               "load %.1f ms | prompt %zu tokens, %.1f tok/s | generated %zu tokens, %.1f tok/s | "
               "first token after %.1f ms | %d threads\n",
               seconds(t_load, t_start) * 1e3, tokens.size(), tokens.size() / std::max(prefill, 1e-9),
               generated.size(), generated.size() > 1 ? (generated.size() - 1) / std::max(decode, 1e-9) : 0.0,
               prefill * 1e3, o.threads);
  return 0;
}

inline int run_cli(int argc, char** argv) {
  const ModelInfo& info = model_info();
  RunOptions o;
  CLI::App app{std::string(info.name) + ": " + info.description};
  app.add_option("--weights", o.weights,
                 "model.safetensors, its index.json, a folder, or a llama2.c .bin (a binary built with --embed: "
                 "replaces the weights it carries)");
  app.add_option("--tokenizer", o.tokenizer,
                 "tokenizer file (tokenizer.bin, tokenizer.json, ...) or a folder holding tokenizer.json or "
                 "tokenizer.model (default: the embedded one, else the one in the --weights folder)");
  app.add_option("--prompt", o.prompt, "prompt text (needs --tokenizer)");
  app.add_option("--tokens", o.tokens, "prompt as comma-separated token ids");
  app.add_option("--decoder-tokens", o.decoder_tokens,
                 "encoder–decoders: the decoder's input ids, comma-separated (default: its start token)");
  app.add_option("-n", o.new_tokens, "number of new tokens to generate")->capture_default_str();
  app.add_option("--temp", o.sampler.temperature, "temperature; 0 is greedy")->capture_default_str();
  app.add_option("--top-k", o.sampler.top_k, "keep the k most likely tokens; 0 keeps all")->capture_default_str();
  app.add_option("--top-p", o.sampler.top_p, "nucleus sampling threshold")->capture_default_str();
  app.add_option("--min-p", o.sampler.min_p, "drop tokens below min-p × the top probability")->capture_default_str();
  app.add_option("--repeat-penalty", o.sampler.repeat_penalty, "penalty for recent tokens; 1 is off")->capture_default_str();
  app.add_option("--seed", o.sampler.seed, "random seed")->capture_default_str();
  app.add_option("--threads", o.threads, "worker threads")->capture_default_str();
  app.add_option("--stop", o.stop, "stop when the generated text contains this string");
  app.add_option("--logits", o.logits_file, "write fp32 logits of every fed position to FILE");
  app.add_flag("--ids", o.print_ids, "print the generated ids (comma-separated) instead of text");
  app.add_flag("--ignore-eos", o.ignore_eos, "keep generating after the end-of-sequence token");
  app.add_flag("--no-bos", o.no_bos, "do not add the BOS token to the prompt");
  app.add_flag("--chat", o.chat, "interactive chat: one user message per line of standard input");
  app.add_option("--chat-template", o.chat_template,
                 "chat format: " + chat_template_names() + " (--serve: overrides the spec's template)")
      ->capture_default_str();
  app.add_flag("--serve", o.serve, "serve the OpenAI API (/v1/completions, /v1/chat/completions) over HTTP");
  app.add_option("--host", o.server.host, "--serve: address to listen on")->capture_default_str();
  app.add_option("--port", o.server.port, "--serve: port to listen on")->capture_default_str();
  app.add_option("--parallel", o.server.parallel, "--serve: sequences decoded together (slots)")->capture_default_str();
  app.add_option("--api-key", o.server.api_key, "--serve: require 'Authorization: Bearer KEY'");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run_model(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace llmc
