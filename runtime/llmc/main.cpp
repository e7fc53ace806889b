// main() of every generated binary: compiled once per compiler and flags (llmc build caches the
// object), then linked with a generated model.
#include "llmc/driver.hpp"

int main(int argc, char** argv) { return llmc::run_cli(argc, argv); }
