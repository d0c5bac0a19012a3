// SPDX-License-Identifier: MIT
// io::ensure_directory: output folders (`pmc ... --out`) whose creation fails are pmc::Errors naming the folder.
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <pmc/io/atomic_file.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace ensure_directory_test {

TEST_CASE("ensure_directory creates missing parents, accepts an existing folder, refuses one under a file") {
  const auto dir = pmc::test::io::scratch("ensure_directory");
  pmc::io::ensure_directory(dir / "a/b/c");
  CHECK(std::filesystem::is_directory(dir / "a/b/c"));
  pmc::io::ensure_directory(dir / "a/b/c");
  std::ofstream(dir / "file") << "x";
  pmc::test::io::error_of([&] { pmc::io::ensure_directory(dir / "file/run"); },
                          {(dir / "file/run").string(), ": cannot create the folder: Not a directory"});
  pmc::test::io::error_of([&] { pmc::io::ensure_directory(dir / "file"); },
                          {(dir / "file").string(), ": cannot create the folder: Not a directory"});
}

}  // namespace ensure_directory_test
