// Shared by the fuzz targets: the rule every target enforces is "a correct result or an llmc::Error".
// Any other exception escapes LLVMFuzzerTestOneInput, which libFuzzer reports as a crash (a finding).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "llmc/error.hpp"

namespace llmc_fuzz {

// A per-process scratch folder on tmpfs when there is one (loaders that only take paths).
inline char g_scratch[256];

inline const std::string& scratch_dir() {
  static const std::string* dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    auto* d = new std::string(base + "/llmc-fuzz-" + std::to_string(::getpid()));  // never freed: used at exit
    std::snprintf(g_scratch, sizeof g_scratch, "%s", d->c_str());
    std::string cmd = "mkdir -p '" + *d + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    std::atexit([] {
      char rm[300];
      std::snprintf(rm, sizeof rm, "rm -rf '%s'", g_scratch);
      (void)!std::system(rm);
    });
    return d;
  }();
  return *dir;
}

inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace llmc_fuzz
