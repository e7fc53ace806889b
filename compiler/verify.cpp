#include "verify.hpp"

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Tooling/Tooling.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "llmc/error.hpp"

namespace llmc {

std::string runtime_dir() {
  if (const char* env = std::getenv("LLMC_RUNTIME_DIR"); env && *env) return env;
  return LLMC_DEFAULT_RUNTIME_DIR;
}

std::string cache_dir() {
  if (const char* d = std::getenv("LLMC_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/llmc";
  if (const char* d = std::getenv("HOME"); d && *d) return std::string(d) + "/.cache/llmc";
  return (std::filesystem::temp_directory_path() / "llmc-cache").string();
}

uint64_t runtime_hash(const std::string& salt) {
  namespace fs = std::filesystem;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  };
  mix(salt);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(runtime_dir()) / "llmc")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    mix(f.filename().string() + std::string(std::istreambuf_iterator<char>(in), {}));
  }
  return h;
}

namespace {

// What every generated source includes first (templates/model.cpp.tmpl). Parsed once into a precompiled
// header, so that verifying a model parses only the model.
constexpr const char* kPrelude =
    "#include <cmath>\n#include <cstddef>\n#include <initializer_list>\n#include <memory>\n#include <string>\n"
    "#include <vector>\n#include \"llmc/kernels.hpp\"\n#include \"llmc/model.hpp\"\n";
constexpr const char* kVirtualDir = "/llmc-verify/";

std::vector<std::string> clang_command(const VerifyOptions& options, std::vector<std::string> extra) {
  std::vector<std::string> command = {"clang++", "-std=c++20", "-Wno-everything", "-I" + options.runtime_dir,
                                      "-resource-dir=" LLMC_CLANG_RESOURCE_DIR};
  command.insert(command.end(), extra.begin(), extra.end());
  return command;
}

// A file system with the in-memory files over the real one (runtime and system headers).
llvm::IntrusiveRefCntPtr<clang::FileManager> files_with(const std::vector<std::pair<std::string, std::string>>& mem) {
  auto memory = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
  for (const auto& [path, text] : mem) memory->addFile(path, 0, llvm::MemoryBuffer::getMemBufferCopy(text));
  auto overlay = llvm::makeIntrusiveRefCnt<llvm::vfs::OverlayFileSystem>(llvm::vfs::getRealFileSystem());
  overlay->pushOverlay(memory);
  return llvm::makeIntrusiveRefCnt<clang::FileManager>(clang::FileSystemOptions(), overlay);
}

// The cached precompiled prelude for these runtime headers, built on first use; "" if it cannot be built.
std::string prelude_pch(const VerifyOptions& options) {
  namespace fs = std::filesystem;
  const std::string prelude = std::string(kVirtualDir) + "prelude.hpp";
  const fs::path dir = cache_dir();
  const std::string pch = (dir / fmt::format("verify-{:016x}.pch", runtime_hash(std::string(kPrelude) +
                                                                               LLMC_CLANG_RESOURCE_DIR +
                                                                               options.runtime_dir))).string();
  std::error_code ec;
  if (fs::exists(pch, ec)) return pch;
  fs::create_directories(dir, ec);
  const std::string tmp = pch + ".tmp" + std::to_string(::getpid());
  auto files = files_with({{prelude, kPrelude}});
  clang::IgnoringDiagConsumer quiet;
  clang::tooling::ToolInvocation invocation(clang_command(options, {"-x", "c++-header", prelude, "-o", tmp,
                                                                    "-fno-caret-diagnostics"}),
                                            std::make_unique<clang::GeneratePCHAction>(), files.get());
  invocation.setDiagnosticConsumer(&quiet);
  if (!invocation.run() || !fs::exists(tmp, ec)) {
    std::remove(tmp.c_str());
    return "";
  }
  fs::rename(tmp, pch, ec);
  if (ec) std::remove(tmp.c_str());
  return fs::exists(pch, ec) ? pch : "";
}

// Quotes the generated lines named by "model.cpp:LINE:" in Clang's output.
std::string quote_lines(const std::string& diagnostics, const std::string& source, const std::string& file) {
  std::vector<std::string> lines;
  std::stringstream ss(source);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  std::string out;
  const std::string key = file + ":";
  for (size_t at = diagnostics.find(key); at != std::string::npos; at = diagnostics.find(key, at + 1)) {
    const size_t n = std::strtoul(diagnostics.c_str() + at + key.size(), nullptr, 10);
    if (n >= 1 && n <= lines.size()) out += fmt::format("  generated line {}: {}\n", n, lines[n - 1]);
  }
  return out;
}

}  // namespace

void verify_source(const std::string& source, const VerifyOptions& options) {
  const std::string path = kVirtualDir + options.file_name;
  const std::string prelude = std::string(kVirtualDir) + "prelude.hpp";
  auto parse = [&](const std::string& pch, std::string& diagnostics) {
    llvm::raw_string_ostream diag_stream(diagnostics);
    auto diag_options = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
    clang::TextDiagnosticPrinter printer(diag_stream, diag_options.get());
    auto files = files_with({{path, source}, {prelude, kPrelude}});
    std::vector<std::string> extra = {"-fsyntax-only", path};
    // -fno-caret-diagnostics: also keeps Clang from printing "N errors generated" for a stale PCH.
    if (!pch.empty()) extra.insert(extra.begin(), {"-include-pch", pch, "-fno-caret-diagnostics"});
    clang::tooling::ToolInvocation invocation(clang_command(options, extra),
                                              std::make_unique<clang::SyntaxOnlyAction>(), files.get());
    invocation.setDiagnosticConsumer(&printer);
    const bool ok = invocation.run();
    diag_stream.flush();
    return ok;
  };
  std::string diagnostics;
  const std::string pch = prelude_pch(options);
  if (!pch.empty() && parse(pch, diagnostics)) return;
  diagnostics.clear();  // without the precompiled prelude: the verdict, and diagnostics that do not mention it
  if (parse("", diagnostics)) {
    // The source is fine, so the PCH was stale: Clang refuses one whose headers' dates changed (a checkout
    // rewrote them) even where their contents, which name it, did not. The next verify builds it anew.
    if (!pch.empty()) std::remove(pch.c_str());
    return;
  }
  throw Error(fmt::format("internal error: the generated source does not compile (an llmc bug; please report it "
                          "with the spec):\n{}{}",
                          diagnostics, quote_lines(diagnostics, source, path)));
}

}  // namespace llmc
