// SPDX-License-Identifier: MIT
// data::TokenFile: a round trip, and headers that claim more than the file holds (every size computed from the
// header is checked for overflow against the file's real size; before, such files were accepted and read out
// of bounds).
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <pmc/data/token_file.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace token_file_test {

namespace {

using pmc::data::TokenFile;
using pmc::data::TokenFileHeader;

/// A token file of `header` followed by `tail` (raw bytes), written as is.
std::filesystem::path raw_token_file(const std::string& name, std::uint32_t width, std::uint64_t n_tokens,
                                     std::uint64_t n_docs, const std::vector<std::uint64_t>& tail) {
  TokenFileHeader h{};
  std::memcpy(h.magic, pmc::data::kTokenFileMagic, 8);
  h.token_bytes = width;
  h.n_tokens = n_tokens;
  h.n_docs = n_docs;
  const auto path = pmc::test::tmp_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&h), sizeof h);
  out.write(reinterpret_cast<const char*>(tail.data()), static_cast<std::streamsize>(tail.size() * 8));
  return path;
}

}  // namespace

TEST_CASE("a token file round-trips its documents and predict mask") {
  const auto path = pmc::test::tmp_dir() / "round_trip.tokens";
  const std::vector<std::vector<std::int32_t>> docs{{1, 5, 2}, {}, {1, 70000, 2}};
  const std::vector<std::vector<std::uint8_t>> masks{{0, 1, 1}, {}, {0, 0, 1}};
  pmc::data::write_token_file(path, docs, 80000, &masks);
  const auto f = TokenFile::open(path);
  REQUIRE(f.n_docs() == 3);
  CHECK(f.n_tokens() == 6);
  CHECK(f.doc_size(1) == 0);
  CHECK(f.token(f.doc_start(2) + 1) == 70000);
  CHECK_FALSE(f.predict(3));
  CHECK(f.predict(5));
}

TEST_CASE("a token count whose byte size wraps past 2^64 is refused, not read out of bounds") {
  // 2^63 two-byte tokens are 2^64 bytes, which wrapped to 0: the 48-byte file (header + 2 offsets) matched.
  const auto path = raw_token_file("wrapped_tokens.tokens", 2, std::uint64_t{1} << 63, 1, {0, std::uint64_t{1} << 63});
  CHECK_THROWS_WITH_AS(TokenFile::open(path), doctest::Contains("wrapped_tokens.tokens: the header's 9223372036854775808 "
                                                                "tokens of 2 bytes do not fit"),
                       pmc::Error);
}

TEST_CASE("a document count whose offset table wraps past 2^64 is refused") {
  // (2^61 - 1 + 1) offsets of 8 bytes are 2^64 bytes, which wrapped to 0; the offsets were then read past the end.
  const auto path = raw_token_file("wrapped_docs.tokens", 2, 0, (std::uint64_t{1} << 61) - 1, {});
  CHECK_THROWS_WITH_AS(TokenFile::open(path), doctest::Contains("wrapped_docs.tokens: the header's 2305843009213693951 "
                                                                "documents do not fit"),
                       pmc::Error);
  // the largest count whose offsets are representable but exceed the file
  const auto big = raw_token_file("many_docs.tokens", 4, 1, std::uint64_t{1} << 40, {0, 1});
  CHECK_THROWS_WITH_AS(TokenFile::open(big), doctest::Contains("documents do not fit"), pmc::Error);
}

TEST_CASE("a token file whose size disagrees with its header is refused") {
  const auto path = raw_token_file("short.tokens", 2, 4, 1, {0});
  CHECK_THROWS_WITH_AS(TokenFile::open(path), doctest::Contains("short.tokens: "), pmc::Error);
}

}  // namespace token_file_test
