// `--serve`: an OpenAI-compatible HTTP server (POST /v1/completions, /v1/chat/completions, streamed as
// server-sent events or not; GET /v1/models, /health). HTTP is llmc/http.hpp's (cpp-httplib in a plugin the
// binary loads only here), JSON nlohmann's; chat prompts are the model's Jinja template rendered by
// llmc/jinja.hpp. Every error answers with the OpenAI error body and the server keeps serving. Generation runs
// on llmc/scheduler.hpp's one thread.
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "llmc/chat.hpp"
#include "llmc/http.hpp"
#include "llmc/jinja.hpp"
#include "llmc/model.hpp"
#include "llmc/scheduler.hpp"
#include "llmc/tokenizer.hpp"

namespace llmc {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  std::string api_key;             // empty: no authentication
  std::string chat_template;       // --chat-template NAME: overrides the spec's template
  std::string tokenizer_path;      // a GGUF vocabulary may carry tokenizer.chat_template
  size_t max_body_bytes = 8u << 20;
};

// A request the client got wrong: answered with 400 (or `status`) and the OpenAI error body.
struct BadRequest : std::runtime_error {
  BadRequest(const std::string& what, std::string param_ = "", int status_ = 400, std::string type_ = "invalid_request_error")
      : std::runtime_error(what), param(std::move(param_)), status(status_), type(std::move(type_)) {}
  std::string param;
  int status;
  std::string type;
};

using Json = nlohmann::ordered_json;

// The chat format: which Jinja template renders a conversation, with which bos/eos text, and which
// tokens end the assistant's turn.
class ChatFormat {
 public:
  ChatFormat(const ModelInfo& info, const Tokenizer& tok, const ServeOptions& o) : tok_(tok) {
    if (!o.chat_template.empty()) {
      const ChatTemplate* t = find_chat_template(o.chat_template);
      if (!t) throw Error("--chat-template: '" + o.chat_template + "' is not one of: " + chat_template_names());
      source_ = t->jinja;
      bos_ = t->bos_text;
      eos_ = t->eos_text;
      origin_ = std::string("--chat-template ") + t->name;
    } else if (*info.chat_template) {
      source_ = info.chat_template;
      bos_ = info.chat_bos_token;
      eos_ = info.chat_eos_token;
      origin_ = "the spec's chat template";
    } else if (std::string gguf = gguf_chat_template(o.tokenizer_path); !gguf.empty()) {
      source_ = gguf;
      origin_ = "the GGUF tokenizer.chat_template";
    }
    if (source_.empty()) return;
    if (bos_.empty() && info.bos >= 0 && info.bos < tok.vocab_size()) bos_ = tok.piece(info.bos);
    if (eos_.empty() && info.eos >= 0 && info.eos < tok.vocab_size()) eos_ = tok.piece(info.eos);
    try {
      template_ = std::make_unique<jinja::Template>(source_);
    } catch (const jinja::Error& e) {
      throw Error(origin_ + " does not parse: " + e.what());
    }
    // The turn ends at the template's eos text, and at any end-of-turn marker of a known family that the
    // template writes (e.g. Gemma's eos is <eos> but a turn ends with <end_of_turn>).
    std::vector<std::string> ends{eos_};
    for (const auto& t : chat_templates())
      if (source_.find(t.end_of_turn) != std::string::npos) ends.push_back(t.end_of_turn);
    for (const auto& e : ends) {
      if (e.empty()) continue;
      const std::vector<int> ids = tok.encode(e, false);
      if (ids.size() == 1 && std::find(stop_ids_.begin(), stop_ids_.end(), ids[0]) == stop_ids_.end())
        stop_ids_.push_back(ids[0]);
    }
  }

  bool available() const { return template_ != nullptr; }
  const std::string& origin() const { return origin_; }
  const std::vector<int>& stop_ids() const { return stop_ids_; }

  // The prompt tokens of a conversation (validated OpenAI messages), ending where the reply begins.
  std::vector<int> prompt(const Json& messages, const Json& tools) const {
    if (!template_)
      throw BadRequest("this model has no chat template (its spec records none): use /v1/completions, or restart "
                       "the server with --chat-template NAME (" + chat_template_names() + ")");
    jinja::Value context{jinja::Dict{}};
    context.set("messages", jinja::from_json(messages));
    context.set("tools", tools.is_null() ? jinja::Value::none() : jinja::from_json(tools));
    context.set("add_generation_prompt", jinja::Value(true));
    context.set("bos_token", jinja::Value::literal(bos_));
    context.set("eos_token", jinja::Value::literal(eos_));
    jinja::Str text;
    try {
      text = template_->render(context);
    } catch (const jinja::Error& e) {
      throw BadRequest(std::string("the chat template rejected the messages: ") + e.what(), "messages");
    }
    // as apply_chat_template: the template writes any BOS itself; message text never becomes special tokens
    return tok_.encode_marked(text.text, text.from_data, false);
  }

  // tokenizer.chat_template of a GGUF vocabulary file, or "" (not GGUF, or none).
  static std::string gguf_chat_template(const std::string& path) {
    if (path.empty()) return "";
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return "";
    char magic[4] = {};
    const bool gguf = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
    std::fclose(f);
    if (!gguf) return "";
    tok_detail::GgufReader r(path);
    auto kv = r.read([](const std::string& k) { return k == "tokenizer.chat_template"; });
    auto it = kv.find("tokenizer.chat_template");
    return it == kv.end() ? "" : it->second.s;
  }

 private:
  const Tokenizer& tok_;
  std::string source_, bos_, eos_, origin_;
  std::unique_ptr<jinja::Template> template_;
  std::vector<int> stop_ids_;
};

class OpenAiServer {
 public:
  OpenAiServer(Scheduler& scheduler, const Tokenizer& tok, const ModelInfo& info, const ServeOptions& o)
      : scheduler_(scheduler), tok_(tok), info_(info), o_(o), chat_(info, tok, o) {}

  // Serves until SIGINT/SIGTERM. Returns the exit code.
  int run() {
    http::Options options;
    options.threads = static_cast<size_t>(std::max(16, 4 * o_.parallel + 8));  // each open request holds one
    options.max_body_bytes = o_.max_body_bytes;
    options.pre_routing = [this](const http::Request& req, http::Response& res) {
      if (o_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return false;
      if (req.header("Authorization") == "Bearer " + o_.api_key) return false;
      error(res, BadRequest("Incorrect or missing API key: send the header 'Authorization: Bearer KEY'", "", 401,
                            "invalid_api_key"));
      return true;
    };
    options.on_error = [](const http::Request& req, http::Response& res) {
      const int status = res.status;
      std::string what = status == 404   ? "no route " + std::string(req.method) + " " + std::string(req.path)
                         : status == 413 ? "the request body is larger than the server accepts"
                         : status == 405 ? "method not allowed"
                                         : "the request failed (HTTP " + std::to_string(status) + ")";
      error(res, BadRequest(what, "", status, status == 404 ? "not_found_error" : "invalid_request_error"));
    };
    options.on_exception = [](const std::string& what, http::Response& res) {
      error(res, BadRequest("internal error: " + what, "", 500, "server_error"));
    };
    std::unique_ptr<http::Server> server = http::load_server(options);
    server->get("/health", [this](const http::Request&, http::Response& res) {
      const Json h = {{"status", "ok"},           {"slots", scheduler_.slots()},
                      {"slots_busy", scheduler_.busy_slots()}, {"reused_prompt_tokens", scheduler_.reused_tokens()},
                      {"cancelled", scheduler_.cancelled()}};
      res.set(200, h.dump(), "application/json");
    });
    server->get("/v1/models", [this](const http::Request&, http::Response& res) {
      Json m = {{"id", info_.name}, {"object", "model"}, {"created", started_}, {"owned_by", "llmc"}};
      res.set(200, Json{{"object", "list"}, {"data", Json::array({m})}}.dump(), "application/json");
    });
    server->post("/v1/completions", [this](const http::Request& req, http::Response& res) { handle(req, res, false); });
    server->post("/v1/chat/completions", [this](const http::Request& req, http::Response& res) { handle(req, res, true); });

    const int port = server->bind(o_.host, o_.port);  // --port 0: any free port (printed below)
    if (port <= 0)
      throw Error("--serve: cannot listen on " + o_.host + ":" + std::to_string(o_.port) + " (address in use?)");
    stop_on_signal(server.get());
    std::fprintf(stderr, "serving %s on http://%s:%d/v1 (%d slot%s; chat: %s)\n", info_.name, o_.host.c_str(), port,
                 scheduler_.slots(), scheduler_.slots() == 1 ? "" : "s",
                 chat_.available() ? chat_.origin().c_str() : "none, /v1/completions only");
    std::fflush(stderr);
    server->listen();
    stop_on_signal(nullptr);
    return 0;
  }

 private:
  Scheduler& scheduler_;
  const Tokenizer& tok_;
  const ModelInfo& info_;
  ServeOptions o_;
  ChatFormat chat_;
  const long started_ = static_cast<long>(std::time(nullptr));
  std::atomic<uint64_t> counter_{0};

  static void error(http::Response& res, const BadRequest& e) {
    Json err = {{"message", e.what()}, {"type", e.type}, {"param", e.param.empty() ? Json() : Json(e.param)},
                {"code", e.status == 401 ? Json("invalid_api_key") : Json()}};
    res.set(e.status, Json{{"error", err}}.dump(), "application/json");
  }

  static void stop_on_signal(http::Server* http) {
    static http::Server* current = nullptr;
    current = http;
    auto on_signal = [](int) {
      if (current) current->stop();
    };
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);  // a client that went away is an error return, not a signal
  }

  // ---- the request -> a Generation

  static Json parse_body(const http::Request& req) {
    Json body;
    try {
      body = Json::parse(req.body);
    } catch (const Json::exception& e) {
      throw BadRequest(std::string("the body is not valid JSON: ") + e.what());
    }
    if (!body.is_object()) throw BadRequest("the body must be a JSON object");
    return body;
  }

  template <typename T>
  static T number(const Json& body, const char* key, T fallback, T lo, T hi) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) return fallback;
    if (!it->is_number()) throw BadRequest(std::string(key) + " must be a number", key);
    const double v = it->get<double>();
    if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)))
      throw BadRequest(std::string(key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], found " +
                       it->dump(), key);
    if (std::is_integral_v<T> && v != std::floor(v)) throw BadRequest(std::string(key) + " must be an integer", key);
    return static_cast<T>(v);
  }

  static std::vector<std::string> stop_strings(const Json& body) {
    const auto it = body.find("stop");
    if (it == body.end() || it->is_null()) return {};
    if (it->is_string()) return {it->get<std::string>()};
    if (!it->is_array() || it->size() > 4) throw BadRequest("stop must be a string or a list of up to 4 strings", "stop");
    std::vector<std::string> out;
    for (const auto& s : *it) {
      if (!s.is_string()) throw BadRequest("stop must be a string or a list of up to 4 strings", "stop");
      out.push_back(s.get<std::string>());
    }
    return out;
  }

  // OpenAI content: a string, or a list of {"type": "text", "text": ...} parts.
  static Json message_text(const Json& content, size_t i) {
    if (content.is_string() || content.is_null()) return content;
    if (!content.is_array()) throw BadRequest("messages[" + std::to_string(i) + "].content must be a string or a list of text parts", "messages");
    std::string text;
    for (const auto& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        throw BadRequest("messages[" + std::to_string(i) + "].content: only text parts are supported", "messages");
      text += (text.empty() ? "" : "\n") + part["text"].get<std::string>();
    }
    return text;
  }

  Json checked_messages(const Json& body) const {
    const auto it = body.find("messages");
    if (it == body.end() || !it->is_array() || it->empty()) throw BadRequest("messages must be a non-empty list", "messages");
    Json out = Json::array();
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& m = (*it)[i];
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
        throw BadRequest("messages[" + std::to_string(i) + "] must be an object with a string role", "messages");
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "developer")
        throw BadRequest("messages[" + std::to_string(i) + "].role '" + role +
                         "' is not one of: system, developer, user, assistant, tool", "messages");
      Json msg = m;
      if (role == "developer") msg["role"] = "system";  // the newer name of the system role
      msg["content"] = message_text(m.value("content", Json()), i);
      if (msg["content"].is_null() && role != "assistant")
        throw BadRequest("messages[" + std::to_string(i) + "] has no content", "messages");
      out.push_back(std::move(msg));
    }
    return out;
  }

  std::vector<int> completion_prompt(const Json& body) const {
    const auto it = body.find("prompt");
    if (it == body.end()) throw BadRequest("prompt is required", "prompt");
    Json p = *it;
    if (p.is_array() && p.size() == 1 && (p[0].is_string() || p[0].is_array())) p = p[0];
    if (p.is_string()) {
      const std::string text = p.get<std::string>();
      // request text: never read as special tokens
      std::vector<int> ids = tok_.encode_marked(text, std::string(text.size(), '\1'), info_.add_bos);
      return ids;
    }
    if (p.is_array() && !p.empty() && std::all_of(p.begin(), p.end(), [](const Json& x) { return x.is_number_integer(); })) {
      std::vector<int> ids;
      for (const auto& x : p) {
        const long long id = x.get<long long>();
        if (id < 0 || id >= info_.vocab)
          throw BadRequest("prompt: token id " + std::to_string(id) + " is outside the vocabulary of " +
                           std::to_string(info_.vocab), "prompt");
        ids.push_back(static_cast<int>(id));
      }
      return ids;
    }
    throw BadRequest("prompt must be a string, a list of one string, or a list of token ids", "prompt");
  }

  std::shared_ptr<Generation> generation(const Json& body, bool chat) const {
    if (body.contains("n") && !(body["n"].is_number_integer() && body["n"].get<int>() == 1))
      throw BadRequest("only n = 1 is supported", "n");
    auto g = std::make_shared<Generation>();
    g->prompt = chat ? chat_.prompt(checked_messages(body), body.value("tools", Json())) : completion_prompt(body);
    if (g->prompt.empty()) throw BadRequest("the prompt encodes to no tokens", chat ? "messages" : "prompt");
    const int prompt_tokens = static_cast<int>(g->prompt.size());
    const int room = info_.context - prompt_tokens;
    const char* max_key = chat && body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    const int requested = number<int>(body, max_key, std::max(chat ? room : std::min(16, room), 0), 0, 1 << 30);
    if (room <= 0 || requested > room)
      throw BadRequest("This model's maximum context length is " + std::to_string(info_.context) +
                       " tokens. However, you requested " + std::to_string(prompt_tokens + requested) + " tokens (" +
                       std::to_string(prompt_tokens) + " in the " + (chat ? "messages" : "prompt") + ", " +
                       std::to_string(requested) + " in the completion). Please reduce the length of the " +
                       (chat ? "messages" : "prompt") + " or completion.", max_key);
    g->max_tokens = std::max(requested, 1);
    g->sampler.temperature = number<float>(body, "temperature", 1.0f, 0.0f, 2.0f);
    g->sampler.top_p = number<float>(body, "top_p", 1.0f, 0.0f, 1.0f);
    if (g->sampler.top_p <= 0.0f) throw BadRequest("top_p must be > 0", "top_p");
    g->sampler.top_k = number<int>(body, "top_k", 0, 0, 1 << 30);
    g->sampler.min_p = number<float>(body, "min_p", 0.0f, 0.0f, 1.0f);
    g->sampler.repeat_penalty = number<float>(body, "repeat_penalty", 1.0f, 0.01f, 100.0f);
    const auto seed = body.find("seed");
    if (seed != body.end() && !seed->is_null()) {
      if (!seed->is_number_integer()) throw BadRequest("seed must be an integer", "seed");
      g->sampler.seed = static_cast<uint64_t>(seed->get<long long>());
    } else {
      g->sampler.seed = std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
    }
    g->stop = stop_strings(body);
    g->stop_ids = chat ? chat_.stop_ids() : std::vector<int>{};
    if (info_.eos >= 0 && std::find(g->stop_ids.begin(), g->stop_ids.end(), info_.eos) == g->stop_ids.end())
      g->stop_ids.push_back(info_.eos);
    // llama.cpp's extension: generate max_tokens whatever the model says (benchmarks, tests)
    if (const auto ignore = body.find("ignore_eos"); ignore != body.end() && !ignore->is_null()) {
      if (!ignore->is_boolean()) throw BadRequest("ignore_eos must be true or false", "ignore_eos");
      if (ignore->get<bool>()) g->stop_ids.clear();
    }
    if (requested == 0) g->max_tokens = 0;
    return g;
  }

  // ---- responses

  Json usage(const Generation& g) const {
    const int p = static_cast<int>(g.prompt.size());
    return {{"prompt_tokens", p}, {"completion_tokens", g.completion_tokens}, {"total_tokens", p + g.completion_tokens}};
  }

  std::string new_id(bool chat) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(++counter_ * 0x9E3779B97F4A7C15ull));
    return std::string(chat ? "chatcmpl-" : "cmpl-") + buf;
  }

  Json chunk(const std::string& id, bool chat, const std::string& text, const Json& finish, bool first) const {
    Json choice;
    if (chat) {
      Json delta = Json::object();
      if (first) delta["role"] = "assistant";
      if (!text.empty() || first) delta["content"] = text;
      choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish}};
    } else {
      choice = {{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}};
    }
    return {{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", now()},
            {"model", info_.name}, {"choices", Json::array({choice})}};
  }

  static long now() { return static_cast<long>(std::time(nullptr)); }

  void handle(const http::Request& req, http::Response& res, bool chat) {
    std::shared_ptr<Generation> g;
    bool stream = false, include_usage = false;
    try {
      const Json body = parse_body(req);
      if (body.contains("stream") && !body["stream"].is_boolean() && !body["stream"].is_null())
        throw BadRequest("stream must be true or false", "stream");
      stream = body.value("stream", false) == true;
      if (const auto so = body.find("stream_options"); so != body.end() && so->is_object())
        include_usage = so->value("include_usage", false) == true;
      g = generation(body, chat);
    } catch (const BadRequest& e) {
      error(res, e);
      return;
    } catch (const Error& e) {  // e.g. a tokenizer refusing the text
      error(res, BadRequest(e.what()));
      return;
    }
    const std::string id = new_id(chat);
    if (g->max_tokens == 0) {  // nothing to generate: answer without a slot
      g->finished = true;
      g->finish_reason = "length";
    } else {
      scheduler_.submit(g);
    }
    if (stream) {
      res.headers.emplace_back("Cache-Control", "no-cache");
      res.content_type = "text/event-stream";
      res.stream = [this, g, id, chat, include_usage, first = true](http::Sink& sink) mutable {
        std::string text;
        const bool more = g->next(text);
        const auto send = [&](const Json& j) {
          const std::string event = "data: " + j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
          return sink.write(event);
        };
        if (!text.empty() || (first && chat)) {
          if (!send(chunk(id, chat, text, nullptr, first))) return cancel(*g);
          first = false;
        }
        if (more) return true;
        std::string reason;
        {
          std::lock_guard<std::mutex> lk(g->m);
          reason = g->finish_reason;
        }
        if (!send(chunk(id, chat, "", reason, false))) return cancel(*g);
        if (include_usage) {
          Json u = chunk(id, chat, "", nullptr, false);
          u["choices"] = Json::array();
          u["usage"] = usage(*g);
          if (!send(u)) return cancel(*g);
        }
        sink.write("data: [DONE]\n\n");
        sink.done();
        return true;
      };
      res.finished = [g](bool complete) {
        if (!complete) g->cancelled = true;
      };
      return;
    }
    // Not streamed: one JSON body at the end. While waiting, a space now and then (JSON allows leading
    // whitespace) finds out whether the client is still there, so a client that left frees its slot.
    res.content_type = "application/json";
    res.stream = [this, g, id, chat, all = std::string(), waited = 0](http::Sink& sink) mutable {
      std::string text;
      if (g->next(text)) {
        all += text;
        if (text.empty() && ++waited % 2 == 0 && !sink.write(" ")) return cancel(*g);
        return true;
      }
      all += text;
      std::string reason;
      {
        std::lock_guard<std::mutex> lk(g->m);
        reason = g->finish_reason;
      }
      Json choice = chat ? Json{{"index", 0}, {"message", {{"role", "assistant"}, {"content", all}}},
                                {"logprobs", nullptr}, {"finish_reason", reason}}
                         : Json{{"text", all}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", reason}};
      const Json body = {{"id", id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", now()},
                         {"model", info_.name}, {"choices", Json::array({choice})}, {"usage", usage(*g)}};
      const std::string out = body.dump(-1, ' ', false, Json::error_handler_t::replace);
      sink.write(out);
      sink.done();
      return true;
    };
    res.finished = [g](bool complete) {
      if (!complete) g->cancelled = true;
    };
  }

  static bool cancel(Generation& g) {
    g.cancelled = true;
    return false;
  }
};

}  // namespace llmc
