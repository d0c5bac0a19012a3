// SPDX-License-Identifier: MIT
// The CSV parser (RFC 4180): quoting, CRLF, fields spanning lines, the line each record starts on, and errors
// that name the input and line.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <pmc/io/csv.hpp>

#include "io/io_test_util.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace csv_test {

using pmc::io::parse_csv;
using pmc::test::io::error_of;

TEST_CASE("CSV parser: RFC 4180 quoting, CRLF, embedded newlines, unterminated quote") {
  const auto recs = parse_csv("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",x,\n\n", "t.csv");
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].fields == std::vector<std::string>{"a", "b,c", "say \"hi\""});
  CHECK(recs[0].line == 1);
  CHECK(recs[1].fields == std::vector<std::string>{"multi\nline", "x", ""});
  CHECK(recs[1].line == 2);
  CHECK(parse_csv("q,a,b,A", "t.csv").size() == 1);  // no final newline
  CHECK(parse_csv("", "t.csv").empty());
  error_of([] { parse_csv("q,\"open,a\nb,c\n", "t.csv"); }, {"t.csv:1: quoted field never closed"});
  error_of([] { parse_csv("x\nq,\"a\"b,c\n", "t.csv"); }, {"t.csv:2: text after a closing quote"});
}

TEST_CASE("CSV parser: a record after a field spanning lines starts on its own line") {
  const auto recs = parse_csv("\"one\ntwo\nthree\",a\r\nb,c\n", "t.csv");
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].fields == std::vector<std::string>{"one\ntwo\nthree", "a"});
  CHECK(recs[1].line == 4);
  CHECK(recs[1].fields == std::vector<std::string>{"b", "c"});
}

}  // namespace csv_test
