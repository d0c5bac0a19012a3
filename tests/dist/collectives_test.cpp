// SPDX-License-Identifier: MIT
// dist::ThreadGroup, the reference transport, on 1, 2 and 3 ranks as threads: all-reduce, reduce-scatter
// (bit-equal to the rank-order sum of all-reduce, block by block), all-gather (odd sizes, bf16, in place),
// broadcast from each root; ranks out of step (different sizes, roots or collectives, one rank's arguments
// wrong) all throw pmc::Error naming it, without deadlocking, and the group works on afterwards.
// The same checks run on MPI processes in mpi_collectives.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <pmc/dist/communicator.hpp>

#include "dist/collective_checks.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace collectives_test {

using namespace pmc;
namespace checks = pmc::test::dist_checks;

namespace {

/// What one rank's thread ended with: the message of the pmc::Error it threw, or "" if none.
using Outcome = std::string;

/// Runs fn(comm) on every rank of a ThreadGroup of `ranks`, one thread each; returns each rank's outcome.
/// A deadlock (a rank still waiting after 60 s) ends the test program: it would otherwise hang ctest.
std::vector<Outcome> on_threads(dist::ThreadGroup& group, int ranks, const std::function<void(dist::Communicator&)>& fn) {
  std::vector<Outcome> outcomes(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  std::promise<void> all_done;
  auto done = all_done.get_future();
  std::thread joiner;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(group.rank(r));
      } catch (const pmc::Error& e) {
        outcomes[static_cast<std::size_t>(r)] = e.what();
      }
    });
  joiner = std::thread([&] {
    for (auto& t : threads) t.join();
    all_done.set_value();
  });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "dist tests: the ranks deadlocked in a collective\n");
    std::_Exit(1);
  }
  joiner.join();
  return outcomes;
}

std::vector<Outcome> on_threads(int ranks, const std::function<void(dist::Communicator&)>& fn) {
  dist::ThreadGroup group(ranks);
  return on_threads(group, ranks, fn);
}

/// Every rank threw a pmc::Error containing `text`.
void all_threw(const std::vector<Outcome>& outcomes, const std::string& text) {
  for (std::size_t r = 0; r < outcomes.size(); ++r) {
    INFO("rank ", r, ": '", outcomes[r], "'");
    CHECK(outcomes[r].find(text) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("ThreadGroup collectives on 1, 2 and 3 ranks: sums in rank order, gathers and broadcasts") {
  for (const int ranks : {1, 2, 3}) {
    CAPTURE(ranks);
    std::vector<checks::Failures> failures(static_cast<std::size_t>(ranks));
    const auto outcomes = on_threads(ranks, [&](dist::Communicator& comm) {
      failures[static_cast<std::size_t>(comm.rank())] = checks::check_all(comm, /*rank_order=*/true, {0, 1, 5, 33});
    });
    for (int r = 0; r < ranks; ++r) {
      CHECK(outcomes[static_cast<std::size_t>(r)] == "");
      INFO(failures[static_cast<std::size_t>(r)].str());
      CHECK(failures[static_cast<std::size_t>(r)].ok());
    }
  }
}

TEST_CASE("ThreadGroup reduce_scatter_sum: an example in numbers") {
  // 3 ranks, blocks of 2: rank r's in = {r, [1e8, -1e8, 1][r], 10r, -1e8, 100r, 1}; float sums in rank order:
  // (1e8 + -1e8) + 1 = 1, where 1e8 + (-1e8 + 1) would be 0
  std::vector<std::vector<float>> outs(3);
  on_threads(3, [&](dist::Communicator& comm) {
    const float r = static_cast<float>(comm.rank());
    const float second[] = {1e8f, -1e8f, 1.f};
    const std::vector<float> in{r, second[comm.rank()], 10 * r, -1e8f, 100 * r, 1.f};
    std::vector<float> out(2);
    comm.reduce_scatter_sum(std::span<const float>(in), std::span<float>(out));
    outs[static_cast<std::size_t>(comm.rank())] = out;
  });
  CHECK(outs[0] == std::vector<float>{3.f, 1.f});
  CHECK(outs[1] == std::vector<float>{30.f, -3e8f});
  CHECK(outs[2] == std::vector<float>{300.f, 3.f});
}

TEST_CASE("ThreadGroup: ranks out of step all throw, none deadlocks, and the group works on") {
  constexpr int kRanks = 3;
  dist::ThreadGroup group(kRanks);
  const auto rank_size = [](const dist::Communicator& comm) { return static_cast<std::size_t>(comm.rank() == 1 ? 3 : 2); };

  SUBCASE("allreduce_sum of different sizes") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                std::vector<double> data(rank_size(comm), 1.0);
                comm.allreduce_sum(std::span<double>(data));
              }),
              "collectives out of step");
  }
  SUBCASE("allreduce_sum of floats on one rank, doubles on the others") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                std::vector<float> f(2, 1.f);
                std::vector<double> d(2, 1.0);
                if (comm.rank() == 2) comm.allreduce_sum(std::span<float>(f));
                else comm.allreduce_sum(std::span<double>(d));
              }),
              "collectives out of step");
  }
  SUBCASE("reduce_scatter_sum into blocks of different sizes") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                const std::size_t n = rank_size(comm);
                std::vector<float> in(n * kRanks, 1.f), out(n);
                comm.reduce_scatter_sum(std::span<const float>(in), std::span<float>(out));
              }),
              "collectives out of step");
  }
  SUBCASE("reduce_scatter_sum with wrong arguments on one rank only") {
    const auto outcomes = on_threads(group, kRanks, [&](dist::Communicator& comm) {
      std::vector<double> in(2 * kRanks + (comm.rank() == 0 ? 1 : 0), 1.0), out(2);
      comm.reduce_scatter_sum(std::span<const double>(in), std::span<double>(out));
    });
    CHECK(outcomes[0].find("in must hold size() blocks") != std::string::npos);
    CHECK(outcomes[1].find("collectives out of step") != std::string::npos);
    CHECK(outcomes[2].find("collectives out of step") != std::string::npos);
  }
  SUBCASE("all_gather of different sizes") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                std::vector<std::byte> in(rank_size(comm)), out(rank_size(comm) * kRanks);
                comm.all_gather(in, out);
              }),
              "collectives out of step");
  }
  SUBCASE("all_gather with wrong arguments on one rank only") {
    const auto outcomes = on_threads(group, kRanks, [&](dist::Communicator& comm) {
      std::vector<std::byte> in(4), out(4 * kRanks + (comm.rank() == 2 ? 1 : 0));
      comm.all_gather(in, out);
    });
    CHECK(outcomes[0].find("collectives out of step") != std::string::npos);
    CHECK(outcomes[1].find("collectives out of step") != std::string::npos);
    CHECK(outcomes[2].find("out must hold size() blocks") != std::string::npos);
  }
  SUBCASE("broadcast of different sizes: the root throws too") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                std::vector<std::byte> data(rank_size(comm));
                comm.broadcast(data, 0);
              }),
              "collectives out of step");
  }
  SUBCASE("broadcast from different roots") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                std::vector<std::byte> data(4);
                comm.broadcast(data, comm.rank() == 0 ? 0 : 1);
              }),
              "collectives out of step");
  }
  SUBCASE("broadcast from no rank on one rank only") {
    const auto outcomes = on_threads(group, kRanks, [&](dist::Communicator& comm) {
      std::vector<std::byte> data(4);
      comm.broadcast(data, comm.rank() == 1 ? kRanks : 0);
    });
    CHECK(outcomes[0].find("collectives out of step") != std::string::npos);
    CHECK(outcomes[1].find("broadcast from rank 3 of a group of 3") != std::string::npos);
    CHECK(outcomes[2].find("collectives out of step") != std::string::npos);
  }
  SUBCASE("a barrier against an all-gather of nothing") {
    all_threw(on_threads(group, kRanks, [&](dist::Communicator& comm) {
                std::vector<std::byte> none;
                if (comm.rank() == 0) comm.barrier();
                else comm.all_gather(none, none);
              }),
              "collectives out of step");
  }

  // after any of the above, the same group still sums
  std::vector<std::vector<float>> data(kRanks, std::vector<float>{1.f, 2.f});
  const auto outcomes = on_threads(group, kRanks, [&](dist::Communicator& comm) {
    comm.allreduce_sum(std::span<float>(data[static_cast<std::size_t>(comm.rank())]));
  });
  for (int r = 0; r < kRanks; ++r) {
    CHECK(outcomes[static_cast<std::size_t>(r)] == "");
    CHECK(data[static_cast<std::size_t>(r)] == std::vector<float>{3.f, 6.f});
  }
}

TEST_CASE("Communicator: the transports here move host memory") {
  dist::ThreadGroup group(1);
  CHECK_FALSE(group.rank(0).device_memory());
  CHECK(group.rank(0).name() == "threads");
}

}  // namespace collectives_test
