// SPDX-License-Identifier: MIT
// TensorBoard event files: what the writer writes reads back (tags, steps, values, the restart marker), an event
// file written by TensorBoard's own writer (tests/golden/io, tools/make_io_golden.py) reads, and a flipped or cut
// byte is an error naming the file and the record.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <pmc/io/tensorboard.hpp>
#include <support/paths.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace tensorboard_test {

namespace fs = std::filesystem;
using pmc::io::read_tensorboard_scalars;
using pmc::io::TensorBoardWriter;
using pmc::test::io::error_of;

TEST_CASE("tensorboard: scalars written read back in order, with their steps, each writer opens a new file") {
  const auto dir = pmc::test::tmp_dir() / "tensorboard_roundtrip";
  fs::remove_all(dir);
  fs::path first;
  {
    TensorBoardWriter w(dir);
    first = w.file();
    CHECK(first.filename().string().starts_with("events.out.tfevents."));
    w.scalar("train/loss", 1, 5.25);
    w.scalar("train/lr", 1, 3e-4);
    w.scalar("train/loss", 2, 4.5);
  }
  const auto s = read_tensorboard_scalars(first);
  REQUIRE(s.size() == 3);
  CHECK(s[0].tag == "train/loss");
  CHECK(s[0].step == 1);
  CHECK(s[0].value == 5.25f);
  CHECK(s[1].value == 3e-4f);
  CHECK(s[2].step == 2);
  CHECK(s[2].wall_time > 1.7e9);  // seconds since 1970
  TensorBoardWriter again(dir);  // a resumed run: a second file, starting with the restart marker
  again.restart_at(2);
  again.scalar("train/loss", 2, 4.0);
  CHECK(again.file() != first);
  const auto t = read_tensorboard_scalars(again.file());
  REQUIRE(t.size() == 1);
  CHECK(t[0].value == 4.0f);
}

TEST_CASE("tensorboard: an event file written by TensorBoard's own writer reads") {
  const auto golden = pmc::test::source_dir() / "tests/golden/io/tensorboard.tfevents";
  const auto s = read_tensorboard_scalars(golden);
  REQUIRE(s.size() == 4);
  CHECK(s[0].tag == "train/loss");
  CHECK(s[0].step == 1);
  CHECK(s[0].value == 2.5f);
  CHECK(s[3].tag == "eval/loss");
  CHECK(s[3].step == 10);
  CHECK(s[3].value == doctest::Approx(1.75f));
}

TEST_CASE("tensorboard: a flipped byte or a cut file is an error naming the file and the record") {
  const auto dir = pmc::test::tmp_dir() / "tensorboard_bad";
  fs::remove_all(dir);
  fs::path file;
  {
    TensorBoardWriter w(dir);
    file = w.file();
    w.scalar("train/loss", 1, 1.0);
  }
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& b) { std::ofstream(file, std::ios::binary | std::ios::trunc) << b; };
  std::string flipped = bytes;
  flipped[flipped.size() - 6] ^= 0x10;  // inside the last record's data
  write(flipped);
  error_of([&] { read_tensorboard_scalars(file); }, {file.filename().string(), "record at byte", "checksum"});
  write(bytes.substr(0, bytes.size() - 3));
  error_of([&] { read_tensorboard_scalars(file); }, {file.filename().string(), "truncated"});
}

}  // namespace tensorboard_test
