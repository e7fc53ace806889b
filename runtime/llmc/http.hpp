// The HTTP layer `--serve` programs against: routes, requests, responses (whole or streamed), hooks.
//
// Its implementation (llmc/http_httplib.cpp, cpp-httplib) is a shared object that `llmc build` compiles once,
// caches, and links into every binary as bytes (llmc_http_plugin .. llmc_http_plugin_end). Debian ships
// cpp-httplib as a shared library built with OpenSSL, zlib and brotli; linked directly, every binary would need
// those. As a plugin they are loaded only by `--serve` (load_server() below), and a binary that never serves
// needs only libc, libstdc++, libgomp (and libm, libgcc_s).
//
// The plugin and the binary come from the same compiler and runtime headers (the cache key covers both), so
// the interface is plain C++: a class with virtual functions, std::string and std::function across it.
#pragma once
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/error.hpp"

namespace llmc::http {

// Bumped whenever the classes below change, so that a binary never drives a plugin built for other ones.
constexpr int kAbiVersion = 1;
// What the plugin needs at run time (named in the error when it cannot be loaded).
constexpr const char* kLibrary = "libcpp-httplib.so.0.11";
constexpr const char* kDebianPackage = "libcpp-httplib0.11";

// A request, valid for the duration of the handler call.
struct Request {
  std::string_view method, path, body;
  std::vector<std::pair<std::string, std::string>> headers;

  // The first header of that name (case-insensitive, as HTTP), or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), name.size()) == 0) return v;
    return "";
  }
};

// Where a streamed response writes. write() returns false once the client has gone away.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool write(std::string_view data) = 0;
  virtual void done() = 0;  // the end of the response
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Streamed (chunked) instead of `body` when set: called again and again, as the connection can take more,
  // until it calls sink.done() or returns false (abandon the response). `finished` is then called once, with
  // whether the response went out whole; it is also how a handler learns that its client disconnected.
  std::function<bool(Sink& sink)> stream;
  std::function<void(bool complete)> finished;

  void set(int status_, std::string body_, std::string content_type_) {
    status = status_;
    body = std::move(body_);
    content_type = std::move(content_type_);
  }
};

using Handler = std::function<void(const Request&, Response&)>;

struct Options {
  size_t max_body_bytes = 8u << 20;  // larger bodies: 413, through the error handler
  size_t threads = 16;               // connections served at once (each open request holds one)
  // Before routing: returns true if it answered the request itself (e.g. a missing API key).
  std::function<bool(const Request&, Response&)> pre_routing;
  // An answer without a body and status >= 400 that the server made itself (no route: 404, too large: 413,
  // 405): the handler writes the body. `res.status` says which.
  Handler on_error;
  // A handler threw: `what` is the exception's text; the response is 500 unless the handler sets otherwise.
  std::function<void(const std::string& what, Response&)> on_exception;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual void get(const std::string& path, Handler handler) = 0;
  virtual void post(const std::string& path, Handler handler) = 0;
  // Binds host:port (port 0: any free port). Returns the port, or -1 if it cannot.
  virtual int bind(const std::string& host, int port) = 0;
  // Serves until stop(). stop() may be called from another thread or a signal handler.
  virtual void listen() = 0;
  virtual void stop() = 0;
};

}  // namespace llmc::http

// The plugin's entry points (llmc/http_httplib.cpp).
extern "C" {
int llmc_http_abi_version();
llmc::http::Server* llmc_http_new_server(const llmc::http::Options* options);
}

// The plugin's bytes, linked into the binary by `llmc build`; weak so that a program built without them (a test
// linking the driver) still links, and says so when asked to serve.
extern "C" __attribute__((weak)) const unsigned char llmc_http_plugin[];
extern "C" __attribute__((weak)) const unsigned char llmc_http_plugin_end[];

namespace llmc::http {

// Loads the plugin this binary carries (from memory, through memfd_create: nothing is written to disk) and
// makes a server. Throws Error naming what is missing, e.g. libcpp-httplib.
inline std::unique_ptr<Server> load_server(const Options& options) {
  if (!llmc_http_plugin || !llmc_http_plugin_end || llmc_http_plugin_end <= llmc_http_plugin)
    throw Error("--serve: this binary carries no HTTP layer (it was not linked by `llmc build`)");
  const int fd = ::memfd_create("llmc-http-plugin", MFD_CLOEXEC);
  if (fd < 0) throw Error(std::string("--serve: memfd_create failed (") + std::strerror(errno) + ")");
  const size_t size = static_cast<size_t>(llmc_http_plugin_end - llmc_http_plugin);
  for (size_t done = 0; done < size;) {
    const ssize_t w = ::write(fd, llmc_http_plugin + done, size - done);
    if (w <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw Error("--serve: cannot write the HTTP layer to memory (" + why + ")");
    }
    done += static_cast<size_t>(w);
  }
  // RTLD_LOCAL: cpp-httplib's and OpenSSL's symbols stay out of the binary's namespace.
  void* plugin = ::dlopen(("/proc/self/fd/" + std::to_string(fd)).c_str(), RTLD_NOW | RTLD_LOCAL);
  ::close(fd);  // the mapping keeps the memory file alive
  if (!plugin) {
    const char* why = ::dlerror();
    throw Error(std::string("--serve: cannot load the HTTP layer (cpp-httplib): ") + (why ? why : "unknown error") +
                "\nIt needs the shared library " + kLibrary + " (Debian package " + kDebianPackage +
                ": apt-get install " + kDebianPackage + ")");
  }
  // The plugin stays loaded for the life of the process: a server may still run when we would close it.
  const auto version = reinterpret_cast<decltype(&llmc_http_abi_version)>(::dlsym(plugin, "llmc_http_abi_version"));
  const auto make = reinterpret_cast<decltype(&llmc_http_new_server)>(::dlsym(plugin, "llmc_http_new_server"));
  if (!version || !make || version() != kAbiVersion)
    throw Error("--serve: the HTTP layer this binary carries does not match it (rebuild it with `llmc build`)");
  Server* server = make(&options);
  if (!server) throw Error("--serve: the HTTP layer could not make a server");
  return std::unique_ptr<Server>(server);
}

}  // namespace llmc::http
