// llmc/http.hpp implemented with cpp-httplib. `llmc build` compiles this file alone into a shared object
// linked with -lcpp-httplib (cached like the driver), and every binary carries that object's bytes and
// loads it on `--serve` only. Nothing of httplib is visible outside this file.

// Debian builds libcpp-httplib with these; the header must see the same class layouts as the library.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>

#include "llmc/http.hpp"

namespace {

using llmc::http::Handler;
using llmc::http::Options;

llmc::http::Request view(const httplib::Request& req) {
  llmc::http::Request r{req.method, req.path, req.body, {}};
  r.headers.assign(req.headers.begin(), req.headers.end());
  return r;
}

class SinkAdapter final : public llmc::http::Sink {
 public:
  explicit SinkAdapter(httplib::DataSink& sink) : sink_(sink) {}
  bool write(std::string_view data) override { return sink_.write(data.data(), data.size()); }
  void done() override { sink_.done(); }

 private:
  httplib::DataSink& sink_;
};

// Writes our response into httplib's.
void apply(llmc::http::Response& from, httplib::Response& to) {
  to.status = from.status;
  for (auto& [k, v] : from.headers) to.set_header(k.c_str(), v);
  if (!from.stream) {
    to.set_content(std::move(from.body), from.content_type.c_str());
    return;
  }
  to.set_chunked_content_provider(
      from.content_type,
      [stream = std::move(from.stream)](size_t, httplib::DataSink& sink) {
        SinkAdapter adapter(sink);
        return stream(adapter);
      },
      [finished = std::move(from.finished)](bool complete) {
        if (finished) finished(complete);
      });
}

httplib::Server::Handler route(Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    llmc::http::Response out;
    handler(view(req), out);
    apply(out, res);
  };
}

class HttplibServer final : public llmc::http::Server {
 public:
  explicit HttplibServer(const Options& o) : o_(o) {
    const size_t threads = o_.threads;
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_payload_max_length(o_.max_body_bytes);
    if (o_.pre_routing)
      http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        llmc::http::Response out;
        if (!o_.pre_routing(view(req), out)) return httplib::Server::HandlerResponse::Unhandled;
        apply(out, res);
        return httplib::Server::HandlerResponse::Handled;
      });
    if (o_.on_error)
      http_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        // called for every status >= 400; only the answers without a body are the server's own
        if (!res.body.empty() || res.content_length_ != 0 || res.is_chunked_content_provider_) return;
        llmc::http::Response out;
        out.status = res.status;
        o_.on_error(view(req), out);
        apply(out, res);
      });
    if (o_.on_exception)
      http_.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        llmc::http::Response out;
        out.status = 500;
        o_.on_exception(what, out);
        apply(out, res);
      });
  }

  void get(const std::string& path, Handler handler) override { http_.Get(path, route(std::move(handler))); }
  void post(const std::string& path, Handler handler) override { http_.Post(path, route(std::move(handler))); }

  int bind(const std::string& host, int port) override {
    if (port == 0) return http_.bind_to_any_port(host);
    return http_.bind_to_port(host, port) ? port : -1;
  }
  void listen() override { http_.listen_after_bind(); }
  void stop() override { http_.stop(); }

 private:
  Options o_;
  httplib::Server http_;
};

}  // namespace

extern "C" {
__attribute__((visibility("default"))) int llmc_http_abi_version() { return llmc::http::kAbiVersion; }

__attribute__((visibility("default"))) llmc::http::Server* llmc_http_new_server(const llmc::http::Options* options) {
  try {
    return new HttplibServer(*options);
  } catch (...) {
    return nullptr;
  }
}
}
