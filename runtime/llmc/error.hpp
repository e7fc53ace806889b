// The one error type of the llmc runtime: a message that names what was wrong.
#pragma once
#include <stdexcept>
#include <string>

namespace llmc {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace llmc
