// The main() of every doctest executable in tests/: doctest's own, except that a run whose filters match no
// test case fails. CTest selects cases by name (--test-case=..., --test-suite=...), and doctest alone exits 0
// when a misspelt or renamed filter matches nothing, so the CTest entry would pass without testing anything.
// Include from exactly one source file per executable.
#pragma once
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace llmc_test {

// Remembers how many test cases passed the filters once a run (not a query such as --list-test-cases) ends.
struct FilterMatchCounter : doctest::IReporter {
  static inline bool run_ended = false;
  static inline unsigned matched = 0;

  explicit FilterMatchCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    run_ended = true;
    matched = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace llmc_test

REGISTER_LISTENER("filter_match_counter", 1, llmc_test::FilterMatchCounter);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;  // a query: nothing was meant to run
  if (llmc_test::FilterMatchCounter::run_ended && llmc_test::FilterMatchCounter::matched == 0) {
    std::fprintf(stderr, "FAIL: no test case matches the filters given on the command line: nothing was tested\n");
    return 1;
  }
  return result;
}
