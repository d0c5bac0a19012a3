// SPDX-License-Identifier: MIT
// pmc::eval::PythonRandom against CPython's random.Random (tests/golden/python_random/sequences.json, written
// by tools/make_golden_python_random.py): seeding, getrandbits, _randbelow and both algorithms of sample,
// with the state shared across calls as lm-evaluation-harness's few-shot sampler shares it.
#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/eval/python_random.hpp>

#include "support/paths.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace python_random_test {

using pmc::eval::PythonRandom;

namespace {

nlohmann::json golden() {
  std::ifstream f(pmc::test::source_dir() / "tests" / "golden" / "python_random" / "sequences.json");
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

std::uint64_t u64(const nlohmann::json& s) { return std::stoull(s.get<std::string>()); }

/// check(r, s) for each golden seed s, with a PythonRandom r seeded from it.
template <class Check>
void for_each_seed(Check check) {
  const auto g = golden();  // kept: a range-for over golden()["seeds"] would iterate a destroyed temporary
  REQUIRE(g["seeds"].size() >= 5);
  for (const auto& s : g["seeds"]) {
    PythonRandom r(u64(s["seed"]));
    INFO("seed " << s["seed"].get<std::string>());
    check(r, s);
  }
}

}  // namespace

TEST_CASE("python_random: seeding and getrandbits equal CPython") {
  const auto g = golden();
  REQUIRE(g["seeds"].size() >= 5);
  for (const auto& s : g["seeds"]) {
    const std::uint64_t seed = u64(s["seed"]);
    INFO("seed " << seed);
    PythonRandom r(seed);
    for (const auto& v : s["u32"]) CHECK(r.getrandbits(32) == v.get<std::uint64_t>());
    PythonRandom b(seed);
    for (std::size_t i = 0; i < s["ks"].size(); ++i) {
      const int k = s["ks"][i].get<int>();
      CHECK_MESSAGE(b.getrandbits(k) == u64(s["bits"][i]), "getrandbits(" << k << ")");
    }
  }
}

TEST_CASE("python_random: _randbelow equals CPython") {
  for_each_seed([](PythonRandom& r, const nlohmann::json& s) {
    for (std::size_t i = 0; i < s["ns"].size(); ++i)
      CHECK_MESSAGE(r.randbelow(u64(s["ns"][i])) == u64(s["randbelow"][i]), "_randbelow(" << s["ns"][i] << ")");
  });
}

TEST_CASE("python_random: sample equals CPython (pool and set algorithms, state shared across calls)") {
  for_each_seed([](PythonRandom& r, const nlohmann::json& s) {
    for (const auto& t : s["samples"]) {
      const auto n = t[0].get<std::size_t>(), k = t[1].get<std::size_t>();
      CHECK_MESSAGE(r.sample(n, k) == t[2].get<std::vector<std::size_t>>(), "sample(range(" << n << "), " << k << ")");
    }
  });
}

TEST_CASE("python_random: a sample larger than the population is refused") {
  PythonRandom r(1234);
  CHECK_THROWS(r.sample(3, 4));
  CHECK(r.sample(0, 0).empty());
}

}  // namespace python_random_test
