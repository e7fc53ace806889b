// `llmc tokenize` and `llmc detokenize`: run a tokenizer file from the command line.
#pragma once
#include <CLI/CLI.hpp>

namespace llmc {
// Registers:
//   llmc tokenize   --tokenizer FILE [--bos|--no-bos] "text"   -> ids, space-separated, one line
//   llmc detokenize --tokenizer FILE 1 2 3                       -> the text
void add_tokenizer_commands(CLI::App& app);
}  // namespace llmc

using llmc::add_tokenizer_commands;
