// Verify: parses generated source in-process with Clang, so that an emitter bug is an llmc error
// that quotes the generated line, not a failure later in the user's build.
#pragma once
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

}  // namespace llmc
