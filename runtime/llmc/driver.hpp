// The command line of every generated binary. Knows nothing of any model beyond what the
// generated source publishes through llmc/model.hpp (sizes, special tokens, forward()).
#pragma once
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
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

// Comma-separated non-negative integers (--token-types).
inline std::vector<int> parse_id_list(const std::string& option, const std::string& text) {
  std::vector<int> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    if (item.empty() || used != item.size() || v < INT32_MIN || v > INT32_MAX)
      throw Error(option + ": '" + item + "' is not an integer");
    ids.push_back(static_cast<int>(v));
  }
  if (ids.empty()) throw Error(option + ": no values given");
  return ids;
}

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

// An encoder's options (ModelKind::encoder): its inputs' token types and what is written of its outputs.
struct EncoderRunOptions {
  std::string token_types;  // --token-types: comma-separated, one per token of the single input
  std::string prompt_file;  // --prompt-file: one input text per line, encoded as one batch
  std::string tokens_file;  // --tokens-file: one input per line, comma-separated ids
  std::string embed_file;   // --embed FILE: pooled (or every position's) hidden states, fp32
  std::string pooling = "cls";  // cls | mean | none | pooler
  bool normalize = false;       // L2-normalise each written embedding row
};

struct RunOptions {
  std::string weights, tokenizer, prompt, tokens, logits_file, stop, chat_template;
  std::string decoder_tokens;  // encoder–decoders: the decoder's input ids (default: the decoder start token)
  int new_tokens = 64;
  bool new_tokens_given = false;  // -n was on the command line
  EncoderRunOptions encoder;
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
  } catch (const KernelFormatError&) {
    throw;
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

// An encoder's input ids from one line of text: the tokenizer must wrap it as the model expects ([CLS] ... [SEP]
// for BERT: the spec's bos and eos), which also catches a tokenizer of another kind (a BPE one has no [CLS]).
inline std::vector<int> encoder_input(const Tokenizer& tokenizer, const std::string& text, const ModelInfo& info,
                                      const std::string& what) {
  std::vector<int> ids = tokenizer.encode(text, info.add_bos);
  const bool wrapped = !info.add_bos || (ids.size() >= 2 && ids.front() == info.bos && (info.eos < 0 || ids.back() == info.eos));
  if (!wrapped)
    throw Error("the tokenizer (kind " + tokenizer.kind() + ") does not wrap " + what + " as this encoder expects: " +
                "first id " + std::to_string(info.bos) + ", last id " + std::to_string(info.eos) +
                " (BERT's [CLS] ... [SEP]); is it the tokenizer of another model? (give BERT's vocab.txt or tokenizer.json)");
  if (static_cast<int>(ids.size()) > info.context)
    throw Error(what + " has " + std::to_string(ids.size()) + " tokens, more than the model's context of " +
                std::to_string(info.context));
  return ids;
}

// Pools one input's hidden rows (n × hidden, row-major) into what --embed writes: cls: row 0; mean: the mean of
// the rows; none: every row (sentence-transformers' and llama-embedding's meanings); normalize: each row / its L2
// norm.
inline std::vector<float> pool_embedding(const std::vector<float>& rows, int n, int hidden, const std::string& pooling,
                                         bool normalize) {
  std::vector<float> out;
  if (pooling == "cls") {
    out.assign(rows.begin(), rows.begin() + hidden);
  } else if (pooling == "mean") {
    std::vector<double> sum(static_cast<size_t>(hidden), 0.0);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < hidden; ++i) sum[static_cast<size_t>(i)] += rows[static_cast<size_t>(t) * hidden + i];
    for (double v : sum) out.push_back(static_cast<float>(v / n));
  } else {
    out = rows;
  }
  if (normalize)
    for (size_t r = 0; r < out.size(); r += static_cast<size_t>(hidden)) {
      double norm = 0.0;
      for (int i = 0; i < hidden; ++i) norm += static_cast<double>(out[r + i]) * out[r + i];
      const double scale = 1.0 / std::max(std::sqrt(norm), 1e-12);  // as torch's F.normalize
      for (int i = 0; i < hidden; ++i) out[r + i] = static_cast<float>(out[r + i] * scale);
    }
  return out;
}

// An encoder binary (BERT): encodes its inputs (one, or a file's lines as one batch) and writes what was asked:
// --logits FILE (masked-LM logits of every position of every input, fp32 [positions × vocab]), --embed FILE
// (embeddings, fp32 [rows × hidden]). Without either, prints each input's token count and, for masked
// positions, the head's best token.
inline int run_encoder(const RunOptions& o, const ModelInfo& info) {
  const EncoderRunOptions& e = o.encoder;
  if (o.new_tokens_given && o.new_tokens > 0)
    throw Error("-n " + std::to_string(o.new_tokens) + ": this model (" + info.name +
                ") is an encoder and generates no tokens; it writes per-position outputs (--logits FILE, --embed FILE)");
  if (o.chat || o.serve) throw Error(std::string(o.chat ? "--chat" : "--serve") + ": this model (" + info.name + ") is an encoder: it does not generate text");
  if (e.pooling != "cls" && e.pooling != "mean" && e.pooling != "none" && e.pooling != "pooler")
    throw Error("--pooling: '" + e.pooling + "' is not one of: cls, mean, none, pooler");
  if (e.pooling == "pooler" && !info.has_pooler) throw Error("--pooling pooler: this model has no pooler");
  if (!o.logits_file.empty() && !info.has_logits) throw Error("--logits: this model has no masked-LM head");
  if ((!o.prompt.empty()) + (!o.tokens.empty()) + (!e.prompt_file.empty()) + (!e.tokens_file.empty()) != 1)
    throw Error("give exactly one of --prompt TEXT, --tokens IDS, --prompt-file FILE and --tokens-file FILE");
  set_threads(o.threads);

  const OwnPayload own = o.weights.empty() || o.tokenizer.empty() ? OwnPayload::find() : OwnPayload{};
  const bool has_text = o.tokens.empty() && e.tokens_file.empty();
  std::unique_ptr<Tokenizer> tokenizer = open_run_tokenizer(o.tokenizer, o.weights, own, has_text);
  if (has_text && !tokenizer) throw Error("--prompt and --prompt-file need --tokenizer FILE (or give ids with --tokens)");
  if (tokenizer && tokenizer->vocab_size() > info.vocab)
    throw Error("the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                " tokens but the model's vocabulary has " + std::to_string(info.vocab));
  std::vector<std::vector<int>> inputs;
  if (!o.tokens.empty()) {
    inputs.push_back(parse_token_list(o.tokens, info.vocab));
    if (static_cast<int>(inputs[0].size()) > info.context)
      throw Error("--tokens: " + std::to_string(inputs[0].size()) + " tokens, more than the model's context of " +
                  std::to_string(info.context));
  } else if (!o.prompt.empty()) {
    inputs.push_back(encoder_input(*tokenizer, o.prompt, info, "--prompt"));
  } else {
    const bool ids = !e.tokens_file.empty();
    const std::string& file = ids ? e.tokens_file : e.prompt_file;
    const std::string option = ids ? "--tokens-file" : "--prompt-file";
    std::ifstream in(file);
    if (!in) throw Error(option + ": cannot read " + file);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      const std::string where = file + ":" + std::to_string(number);
      if (!ids) {
        inputs.push_back(encoder_input(*tokenizer, line, info, where));
        continue;
      }
      try {
        inputs.push_back(parse_token_list(line, info.vocab));
      } catch (const Error& x) {
        throw Error(where + ": " + x.what());
      }
      if (static_cast<int>(inputs.back().size()) > info.context)
        throw Error(where + ": " + std::to_string(inputs.back().size()) + " tokens, more than the model's context of " +
                    std::to_string(info.context));
    }
    if (inputs.empty()) throw Error(option + ": " + file + " has no input lines");
  }
  std::vector<int> types;
  if (!e.token_types.empty()) {
    if (inputs.size() != 1) throw Error("--token-types: only for a single input (--prompt or --tokens)");
    types = parse_id_list("--token-types", e.token_types);
    if (types.size() != inputs[0].size())
      throw Error("--token-types: " + std::to_string(types.size()) + " types for " + std::to_string(inputs[0].size()) +
                  " tokens; give one per token");
    const int count = std::max(info.token_types, 1);
    for (size_t t = 0; t < types.size(); ++t)
      if (types[t] < 0 || types[t] >= count)
        throw Error("--token-types: type " + std::to_string(types[t]) + " at position " + std::to_string(t) +
                    " is out of range: this model has " + std::to_string(count) + " token types (0.." +
                    std::to_string(count - 1) + ")");
  }

  using Clock = std::chrono::steady_clock;
  const auto t_load = Clock::now();
  WeightStore store = open_run_weights(o.weights, own);
  std::unique_ptr<Model> model = load_model(store, info);
  std::optional<AtomicFile> logits_out, embed_out;
  if (!o.logits_file.empty()) logits_out.emplace(o.logits_file);
  if (!e.embed_file.empty()) embed_out.emplace(e.embed_file);

  // Inputs are encoded in batches whose tokens fit the context (one step of the model), a state per input.
  std::vector<std::unique_ptr<State>> states;
  std::vector<std::vector<float>> hidden(inputs.size());
  size_t tokens_total = 0;
  const auto t_start = Clock::now();
  for (size_t next = 0; next < inputs.size();) {
    std::vector<EncoderInput> batch;
    for (int rows = 0; next < inputs.size() && rows + static_cast<int>(inputs[next].size()) <= info.context; ++next) {
      if (batch.size() == states.size()) states.push_back(model->new_state());
      batch.push_back({states[batch.size()].get(), inputs[next].data(), types.empty() ? nullptr : types.data(),
                       static_cast<int>(inputs[next].size())});
      rows += static_cast<int>(inputs[next].size());
      tokens_total += inputs[next].size();
    }
    const size_t first = next - batch.size();
    EncoderOutputs out;
    if (embed_out && e.pooling != "pooler")
      out.hidden = [&](int input, int, const float* row) {
        std::vector<float>& h = hidden[first + static_cast<size_t>(input)];
        h.insert(h.end(), row, row + info.hidden);
      };
    if (embed_out && e.pooling == "pooler")
      out.pooled = [&](int input, const float* row) {
        hidden[first + static_cast<size_t>(input)].assign(row, row + info.hidden);
      };
    if (info.has_logits && (logits_out || (!embed_out && tokenizer)))
      out.logits = [&](int input, int position, const float* row) {
        if (logits_out) logits_out->write(row, sizeof(float) * static_cast<size_t>(info.vocab));
        if (!tokenizer || tokenizer->piece(inputs[first + static_cast<size_t>(input)][static_cast<size_t>(position)]) != "[MASK]") return;
        const int top = static_cast<int>(std::max_element(row, row + info.vocab) - row);
        std::printf("input %zu, position %d: [MASK] -> %s\n", first + static_cast<size_t>(input), position,
                    tokenizer->piece(top).c_str());
      };
    model->encode(batch, out);
  }
  const auto t_end = Clock::now();
  if (embed_out) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const bool pooled = e.pooling == "pooler";
      const std::vector<float> rows = pool_embedding(hidden[i], pooled ? 1 : static_cast<int>(inputs[i].size()), info.hidden,
                                                     pooled ? "cls" : e.pooling, e.normalize);
      embed_out->write(rows.data(), sizeof(float) * rows.size());
    }
    embed_out->commit();
  }
  if (logits_out) logits_out->commit();
  const double seconds = std::chrono::duration<double>(t_end - t_start).count();
  std::fprintf(stderr, "load %.1f ms | %zu inputs, %zu tokens, %.1f tok/s, %.1f inputs/s | %d threads\n",
               std::chrono::duration<double>(t_start - t_load).count() * 1e3, inputs.size(), tokens_total,
               tokens_total / std::max(seconds, 1e-9), inputs.size() / std::max(seconds, 1e-9), o.threads);
  return 0;
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
  const bool seq2seq = info.kind == ModelKind::encoder_decoder;
  if (!o.decoder_tokens.empty() && !seq2seq)
    throw Error("--decoder-tokens: this model is not an encoder–decoder; give its input with --prompt or --tokens");
  if (!o.decoder_tokens.empty() && o.prompt.empty() && o.tokens.empty())
    throw Error("--decoder-tokens: the decoder reads an encoder input: give it with --prompt TEXT or --tokens IDS");
  if (seq2seq && (o.serve || o.chat))
    throw Error(std::string(o.serve ? "--serve" : "--chat") + ": not available for an encoder–decoder model yet");
  if (info.kind == ModelKind::encoder) return run_encoder(o, info);
  if (info.kind != ModelKind::causal_lm && info.kind != ModelKind::encoder_decoder)
    throw Error(std::string("this binary's model kind (") + to_string(info.kind) + ") has no driver yet");
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
  app.add_option("-n", o.new_tokens, "number of new tokens to generate (a causal LM)")->capture_default_str();
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
  app.add_option("--token-types", o.encoder.token_types,
                 "an encoder's token types (segments), comma-separated, one per token of the input");
  app.add_option("--prompt-file", o.encoder.prompt_file, "an encoder's inputs: one text per line, encoded as a batch");
  app.add_option("--tokens-file", o.encoder.tokens_file,
                 "an encoder's inputs: one comma-separated id list per line, encoded as a batch");
  app.add_option("--embed", o.encoder.embed_file,
                 "an encoder: write embeddings to FILE, fp32 little-endian, row-major [rows x hidden]: a row per input "
                 "(a row per position with --pooling none)");
  app.add_option("--pooling", o.encoder.pooling,
                 "--embed: cls (hidden state of position 0), mean (over positions), none (every position), pooler "
                 "(the model's pooler output)")
      ->capture_default_str();
  app.add_flag("--normalize", o.encoder.normalize, "--embed: L2-normalise each row");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  o.new_tokens_given = app.count("-n") > 0;
  try {
    return run_model(o);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace llmc
