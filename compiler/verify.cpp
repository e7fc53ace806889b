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

#include <cstdlib>
#include <sstream>
#include <vector>

#include "llmc/error.hpp"

namespace llmc {

std::string runtime_dir() {
  if (const char* env = std::getenv("LLMC_RUNTIME_DIR"); env && *env) return env;
  return LLMC_DEFAULT_RUNTIME_DIR;
}

namespace {

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
  std::string diagnostics;
  llvm::raw_string_ostream diag_stream(diagnostics);
  auto diag_options = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
  clang::TextDiagnosticPrinter printer(diag_stream, diag_options.get());
  // The source lives in memory; the runtime and system headers come from disk.
  const std::string path = "/llmc-verify/" + options.file_name;
  auto memory = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
  memory->addFile(path, 0, llvm::MemoryBuffer::getMemBufferCopy(source));
  auto overlay = llvm::makeIntrusiveRefCnt<llvm::vfs::OverlayFileSystem>(llvm::vfs::getRealFileSystem());
  overlay->pushOverlay(memory);
  auto files = llvm::makeIntrusiveRefCnt<clang::FileManager>(clang::FileSystemOptions(), overlay);
  const std::vector<std::string> command = {
      "clang++", "-std=c++20", "-fsyntax-only", "-Wno-everything", "-I" + options.runtime_dir,
      "-resource-dir=" LLMC_CLANG_RESOURCE_DIR, path,
  };
  clang::tooling::ToolInvocation invocation(command, std::make_unique<clang::SyntaxOnlyAction>(), files.get());
  invocation.setDiagnosticConsumer(&printer);
  const bool ok = invocation.run();
  diag_stream.flush();
  if (!ok)
    throw Error(fmt::format("internal error: the generated source does not compile (an llmc bug; please report it "
                            "with the spec):\n{}{}",
                            diagnostics, quote_lines(diagnostics, source, path)));
}

}  // namespace llmc
