// Verify: parses generated source in-process with Clang, so that an emitter bug is an llmc error
// that quotes the generated line, not a failure later in the user's build.
#pragma once
#include <cstdint>
#include <string>

namespace llmc {

struct VerifyOptions {
  std::string runtime_dir;   // holds llmc/*.hpp
  std::string file_name = "model.cpp";
};

// Throws llmc::Error with Clang's diagnostics and the offending generated lines.
void verify_source(const std::string& source, const VerifyOptions& options);

// Where the runtime headers are: $LLMC_RUNTIME_DIR, else the source tree llmc was built from.
std::string runtime_dir();

// llmc's cache of compiled runtime pieces: $LLMC_CACHE_DIR, else $XDG_CACHE_HOME/llmc, else ~/.cache/llmc.
std::string cache_dir();

// A hash of `salt` and the runtime headers' names and contents (a cache key).
uint64_t runtime_hash(const std::string& salt);

}  // namespace llmc
