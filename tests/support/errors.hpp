// SPDX-License-Identifier: MIT
// Checking errors in tests: the message of the pmc::Error a call throws, and two calls failing alike.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include <pmc/core/error.hpp>

namespace pmc::test {

/// The message of the pmc::Error f throws ("" if it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const pmc::Error& e) {
    return e.what();
  }
  return "";
}

/// `call` fails with the message `check` fails with, word for word (a backend and its contract's check).
template <class Check, class Call>
void same_error(Check&& check, Call&& call) {
  const std::string want = error_of(check);
  REQUIRE(!want.empty());
  CHECK(error_of(call) == want);
}

}  // namespace pmc::test
