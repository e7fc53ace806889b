#include "commands.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <vector>

#include "emit.hpp"
#include "llmc/embedded.hpp"
#include "llmc/error.hpp"
#include "verify.hpp"

namespace llmc {
namespace fs = std::filesystem;

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("{}: cannot write ({})", path, std::strerror(errno)));
    out << text;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(fmt::format("{}: write failed", path));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(fmt::format("{}: cannot move the output into place ({})", path, why));
  }
}

std::string compile_to_source(const CompileOptions& o) {
  const Spec spec = load_spec(o.spec_path);
  const Plan plan = make_plan(spec);
  std::string source = emit_model(plan, EmitOptions{o.command_line, o.dtype, o.kv_cache, o.formats});
  if (!o.skip_verify) verify_source(source, VerifyOptions{runtime_dir()});
  return source;
}

void run_compile(const CompileOptions& o) { write_file_atomically(o.output, compile_to_source(o)); }

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command, echoing it to stderr; returns whether it succeeded.
bool run_command(const std::string& cmd) {
  std::fprintf(stderr, "llmc: %s\n", cmd.c_str());
  const int status = std::system(cmd.c_str());
  return status == 0;
}

// The driver (runtime/llmc/main.cpp: command line, tokenizers, checkpoint parsers) is the same for every
// model, so it is compiled once per compiler, flags and runtime version, and the object is cached.
std::string driver_object(const std::string& compile_cmd) {
  const uint64_t h = runtime_hash(compile_cmd);
  const fs::path dir = cache_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string object = (dir / fmt::format("driver-{:016x}.o", h)).string();
  if (fs::exists(object)) return object;
  const std::string tmp = object + ".tmp" + std::to_string(::getpid());
  const std::string main_cpp = (fs::path(runtime_dir()) / "llmc" / "main.cpp").string();
  if (!run_command(fmt::format("{} -c {} -o {}", compile_cmd, shell_quote(main_cpp), shell_quote(tmp)))) {
    std::remove(tmp.c_str());
    throw Error("the C++ compiler failed on the llmc runtime driver (runtime/llmc/main.cpp)");
  }
  fs::rename(tmp, object);
  return object;
}

// An assembler file whose object carries the bytes of `file` between the symbols llmc_http_plugin and
// llmc_http_plugin_end (what llmc/http.hpp loads).
std::string incbin_source(const std::string& file) {
  std::string quoted;
  for (char c : file) quoted += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return fmt::format(
      "  .section .rodata.llmc_http_plugin,\"a\"\n"
      "  .balign 64\n"
      "  .globl llmc_http_plugin\n  .type llmc_http_plugin, @object\n"
      "llmc_http_plugin:\n"
      "  .incbin \"{}\"\n"
      "  .globl llmc_http_plugin_end\n  .type llmc_http_plugin_end, @object\n"
      "llmc_http_plugin_end:\n"
      "  .section .note.GNU-stack,\"\",@progbits\n",
      quoted);
}

// --serve's HTTP layer: runtime/llmc/http_httplib.cpp as a shared object linked with -lcpp-httplib, and an
// object file carrying its bytes, which every binary links. Linking -lcpp-httplib into the binary instead
// would make it need libcpp-httplib, OpenSSL, zlib and brotli even to generate text; the binary loads the
// plugin only for --serve (llmc/http.hpp). Compiled once per compiler, optimisation level and runtime version,
// cached.
std::string http_plugin_object(const std::string& cxx, const std::string& opt_level) {
  const std::string plugin_cmd =
      fmt::format("{} -std=c++20 {} -DNDEBUG -fPIC -shared -I{}", cxx, opt_level, shell_quote(runtime_dir()));
  const uint64_t h = runtime_hash(plugin_cmd);
  const fs::path dir = cache_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string plugin = (dir / fmt::format("http-{:016x}.so", h)).string();
  const std::string object = (dir / fmt::format("http-{:016x}.o", h)).string();
  if (fs::exists(object)) return object;
  const std::string tmp = ".tmp" + std::to_string(::getpid());
  const std::string source = (fs::path(runtime_dir()) / "llmc" / "http_httplib.cpp").string();
  if (!run_command(fmt::format("{} {} -o {} -lcpp-httplib", plugin_cmd, shell_quote(source), shell_quote(plugin + tmp)))) {
    std::remove((plugin + tmp).c_str());
    throw Error("the C++ compiler failed on the --serve HTTP layer (runtime/llmc/http_httplib.cpp; it needs "
                "Debian's libcpp-httplib-dev)");
  }
  fs::rename(plugin + tmp, plugin);
  const std::string assembly = object + tmp + ".s";
  write_file_atomically(assembly, incbin_source(plugin));
  const bool ok = run_command(fmt::format("{} -c {} -o {}", cxx, shell_quote(assembly), shell_quote(object + tmp)));
  std::remove(assembly.c_str());
  if (!ok) {
    std::remove((object + tmp).c_str());
    throw Error("the assembler failed on the --serve HTTP layer's object (" + assembly + ")");
  }
  fs::rename(object + tmp, object);
  return object;
}

}  // namespace

namespace {

// Writes all of data to fd, or Error.
void write_all(int fd, std::string_view data, const std::string& path) {
  for (size_t done = 0; done < data.size();) {
    const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w <= 0) throw Error(fmt::format("{}: write failed ({})", path, std::strerror(errno)));
    done += static_cast<size_t>(w);
  }
}

// Appends the file `from` to fd, through memory in large writes: the page cache then holds the copy in large
// folios, which the binary maps with few TLB entries (copy_file_range left 4 KB pages behind here, and the
// first runs after a build prefilled TinyLlama 25% slower from them).
void append_file(int fd, const std::string& from, const std::string& path) {
  const int in = ::open(from.c_str(), O_RDONLY);
  if (in < 0) throw Error(fmt::format("{}: cannot open ({})", from, std::strerror(errno)));
  std::string buffer(size_t{16} << 20, '\0');
  for (;;) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(in);
      throw Error(fmt::format("{}: cannot read ({})", from, why));
    }
    if (n == 0) break;
    try {
      write_all(fd, std::string_view(buffer.data(), static_cast<size_t>(n)), path);
    } catch (...) {
      ::close(in);
      throw;
    }
  }
  ::close(in);
}

// The tokenizer files an --embed build carries (--tokenizer, else the --weights folder's, else none), read and
// checked against the model's vocabulary before the long part of the build. Sets o.tokenizer to what it used.
std::optional<Tokenizer::Files> tokenizer_to_embed(BuildOptions& o) {
  if (o.weights.empty()) throw Error("--embed needs --weights (the checkpoint to carry)");
  const fs::path folder(o.weights);
  if (o.tokenizer.empty() && fs::is_directory(folder) &&
      (fs::exists(folder / "tokenizer.json") || fs::exists(folder / "tokenizer.model")))
    o.tokenizer = o.weights;  // an HF folder: its tokenizer comes along
  if (o.tokenizer.empty()) return std::nullopt;
  Tokenizer::Files files = Tokenizer::collect_files(o.tokenizer);
  const int vocab = load_spec(o.compile.spec_path).vocab_size;
  const auto tok = Tokenizer::load(files);
  if (tok->vocab_size() > vocab)
    throw Error(fmt::format("{}: tokenizer has {} tokens but the model's vocabulary has {}", o.tokenizer,
                            tok->vocab_size(), vocab));
  return files;
}

// Appends the payload of a one-file binary (llmc/embedded.hpp) to the linked executable at `binary`: the
// weights as `llmc quantize` writes them, aligned to kPayloadAlign, the tokenizer files and the trailer.
void append_payload(const std::string& binary, const BuildOptions& o, const Tokenizer::Files* tokenizer) {
  const std::string weights = binary + ".weights.safetensors";
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove_weights{weights};
  run_quantize(QuantizeOptions{o.compile.spec_path, o.weights, weights, o.compile.dtype});

  const int fd = ::open(binary.c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) throw Error(fmt::format("{}: cannot open ({})", binary, std::strerror(errno)));
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_fd{fd};
  EmbeddedPayload p;
  const uint64_t image = static_cast<uint64_t>(::lseek(fd, 0, SEEK_END));
  p.weights_offset = (image + kPayloadAlign - 1) / kPayloadAlign * kPayloadAlign;
  write_all(fd, std::string(p.weights_offset - image, '\0'), binary);
  append_file(fd, weights, binary);
  p.weights_size = static_cast<uint64_t>(::lseek(fd, 0, SEEK_END)) - p.weights_offset;
  const std::string tok = encode_tokenizer_files(tokenizer ? *tokenizer : Tokenizer::Files{});
  p.tokenizer_offset = p.weights_offset + p.weights_size;
  p.tokenizer_size = tok.size();
  write_all(fd, tok, binary);
  p.file_size = p.tokenizer_offset + p.tokenizer_size + kTrailerBytes;
  {
    const int rd = ::open(binary.c_str(), O_RDONLY);
    if (rd < 0) throw Error(fmt::format("{}: cannot reopen ({})", binary, std::strerror(errno)));
    try {
      p.checksum = embed_detail::payload_checksum(rd, p, binary);
    } catch (...) {
      ::close(rd);
      throw;
    }
    ::close(rd);
  }
  write_all(fd, encode_trailer(p), binary);
  std::fprintf(stderr, "llmc: embedded %.1f MiB of weights%s at offset %llu\n",
               static_cast<double>(p.weights_size) / (1 << 20),
               tokenizer ? fmt::format(" and the tokenizer {}", o.tokenizer).c_str() : "",
               static_cast<unsigned long long>(p.weights_offset));
}

void build_binary(BuildOptions o) {
  if (!o.embed && (!o.weights.empty() || !o.tokenizer.empty()))
    throw Error("--weights and --tokenizer are only for --embed (a binary without it takes them when it runs)");
  const std::optional<Tokenizer::Files> tokenizer = o.embed ? tokenizer_to_embed(o) : std::nullopt;
  std::string source = compile_to_source(o.compile);
  if (o.embed)
    source += "\n// Built with --embed: the weights and the tokenizer follow the executable (llmc/embedded.hpp).\n"
              "extern \"C\" const char llmc_embedded_payload = 1;\n";
  std::string cxx = o.cxx;
  if (cxx.empty()) cxx = std::getenv("CXX") && *std::getenv("CXX") ? std::getenv("CXX") : "c++";
  const std::string compile_cmd = fmt::format("{} -std=c++20 {} -march={} -DNDEBUG{} -I{}", cxx, o.opt_level, o.march,
                                              o.no_openmp ? "" : " -fopenmp", shell_quote(runtime_dir()));
  const std::string driver = driver_object(compile_cmd);

  const std::string out_tmp = o.output + ".tmp" + std::to_string(::getpid());
  {  // a clear message now, rather than a linker error about the temporary later
    std::ofstream probe(out_tmp, std::ios::binary | std::ios::trunc);
    if (!probe) throw Error(fmt::format("{}: cannot write ({})", o.output, std::strerror(errno)));
  }
  std::remove(out_tmp.c_str());
  const std::string src_path = (fs::temp_directory_path() / fmt::format("llmc-{}-{}.cpp", ::getpid(),
                                                                       fs::path(o.output).filename().string()))
                                   .string();
  write_file_atomically(src_path, source);
  if (!o.keep_source.empty()) write_file_atomically(o.keep_source, source);
  const std::string http_plugin = http_plugin_object(cxx, o.opt_level);
  // The binary needs only libc, libstdc++, libgomp (libm, libgcc_s): PCRE2 is linked in, the HTTP layer
  // carried as bytes.
  const bool ok = run_command(fmt::format("{} {} {} {} -o {} -Wl,-Bstatic -lpcre2-8 -Wl,-Bdynamic", compile_cmd,
                                          shell_quote(src_path), shell_quote(driver), shell_quote(http_plugin),
                                          shell_quote(out_tmp)));
  std::remove(src_path.c_str());
  if (!ok) {
    std::remove(out_tmp.c_str());
    throw Error(fmt::format("the C++ compiler failed; no binary was written to {}", o.output));
  }
  if (o.embed) {
    try {
      append_payload(out_tmp, o, tokenizer ? &*tokenizer : nullptr);
    } catch (...) {
      std::remove(out_tmp.c_str());
      throw;
    }
  }
  if (std::rename(out_tmp.c_str(), o.output.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(out_tmp.c_str());
    throw Error(fmt::format("{}: cannot move the binary into place ({})", o.output, why));
  }
}

}  // namespace

// A failed build leaves no binary at the output path: neither a half-written one nor an older one that
// could be mistaken for the result of this build.
void run_build(const BuildOptions& o) {
  try {
    build_binary(o);
  } catch (const std::exception& e) {
    std::error_code ec;
    if (fs::is_regular_file(o.output, ec) && fs::remove(o.output, ec))
      throw Error(fmt::format("{}\n(removed the older {} so that it is not mistaken for the result of this build)",
                              e.what(), o.output));
    throw;
  }
}

void run_inspect(const std::string& spec_path, std::ostream& out) {
  const Spec spec = load_spec(spec_path);
  const Plan plan = make_plan(spec);
  out << fmt::format("{} ({}): {} layers, hidden {}, vocab {}, context {}\n\n", spec.name, spec.family,
                     spec.num_layers, spec.hidden_size, spec.vocab_size, spec.max_context);
  out << fmt::format("{:>5}  {:>5}  {:>8}  {:>8}  {:>7}  {:>6}  {:>12}\n", "layer", "heads", "kv heads", "head dim",
                     "ffn", "window", "parameters");
  for (const auto& l : plan.layers) {
    int64_t params = 0;
    for (const auto& t : l.tensors) params += t.bytes() / 4;
    out << fmt::format("{:>5}  {:>5}  {:>8}  {:>8}  {:>7}  {:>6}  {:>12}\n", l.index, l.heads, l.kv_heads,
                       l.head_dim, l.ffn, l.window ? std::to_string(l.window) : "-", params);
  }
  const auto mib = [](double bytes) { return bytes / (1 << 20); };
  out << fmt::format("\nparameters:   {} ({:.2f}M)\n", plan.parameter_count,
                     static_cast<double>(plan.parameter_count) / 1e6);
  if (plan.active_parameter_count != plan.parameter_count)
    out << fmt::format("active:       {} ({:.2f}M) per token ({} of {} experts)\n", plan.active_parameter_count,
                       static_cast<double>(plan.active_parameter_count) / 1e6, spec.mlp.moe.top_k,
                       spec.mlp.moe.experts);
  out << fmt::format("weights:      {:.1f} MiB as fp32, {:.1f} MiB as bf16/f16\n", mib(plan.weight_bytes),
                     mib(plan.weight_bytes / 2.0));
  out << fmt::format("decode reads: {:.1f} MiB of weights per token as fp32, {:.1f} MiB as bf16/f16\n",
                     mib(plan.decode_read_parameters * 4.0), mib(plan.decode_read_parameters * 2.0));
  out << fmt::format("KV cache:     {:.1f} MiB per sequence ({} positions, fp32; {:.1f} MiB with --kv-cache f16), "
                     "{} bytes per position (fp32)\n",
                     mib(plan.state_elements() * 4.0), spec.max_context, mib(plan.state_elements() * 2.0),
                     plan.state_row * 4);
  out << fmt::format("activations:  {:.1f} MiB ({} tokens per prefill chunk) + {:.1f} MiB logits and rope tables\n",
                     mib(plan.activation_floats * 4.0), plan.chunk,
                     mib(4.0 * (spec.vocab_size + static_cast<double>(spec.max_context) * spec.rope.rotary_dim)));
}

void run_import(const std::string& source, const std::string& output, const ImportOptions& options,
                const std::string& command_line) {
  const Spec spec = import_any(source, options);
  const std::string yaml = spec_to_yaml(spec, "Written by: " + command_line);
  try {
    parse_spec(yaml, "(imported spec)");  // what we write must read back
  } catch (const Error& e) {
    throw Error(fmt::format("{}: cannot import: the configuration it holds is inconsistent: {}", source, e.what()));
  }
  write_file_atomically(output, yaml);
}

}  // namespace llmc
