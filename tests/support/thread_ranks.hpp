// SPDX-License-Identifier: MIT
// Runs `run(comm)` once per rank of a dist::ThreadGroup of `ranks` threads and returns every rank's result; an
// exception on a rank fails the test, naming the rank. For the data-parallel and sharded trainer tests.
#pragma once

#include <doctest/doctest.h>

#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <pmc/dist/communicator.hpp>

namespace pmc::test {

template <class Result, class Run>
std::vector<Result> on_thread_ranks(int ranks, Run run) {
  dist::ThreadGroup group(ranks);
  std::vector<Result> results(static_cast<std::size_t>(ranks));
  std::vector<std::string> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        results[static_cast<std::size_t>(r)] = run(group.rank(r));
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < ranks; ++r)
    REQUIRE_MESSAGE(errors[static_cast<std::size_t>(r)].empty(), "rank ", r, ": ", errors[static_cast<std::size_t>(r)]);
  return results;
}

}  // namespace pmc::test
