// SPDX-License-Identifier: MIT
// The checks of a dist::Communicator's collectives that every transport passes, run by each rank on its own
// communicator: ThreadGroup in collectives_test.cpp (threads), MpiCommunicator in mpi_collectives.cpp (mpirun).
// Every rank makes every rank's inputs itself (values_of(rank, ...)), so each can compute the expected results
// without communicating. Failures are collected as lines, not thrown, so that one rank's failure does not leave
// the others waiting in a collective.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/dist/communicator.hpp>

namespace pmc::test::dist_checks {

using pmc::dist::Communicator;

struct Failures {
  std::vector<std::string> lines;
  void expect(bool ok, const std::string& what) {
    if (!ok) lines.push_back(what);
  }
  bool ok() const { return lines.empty(); }
  std::string str() const {
    std::ostringstream s;
    for (const auto& l : lines) s << l << "\n";
    return s.str();
  }
};

/// Rank `rank`'s `count` values: signs and magnitudes from 1e-3 to 1e3 mixed, so that the order of a sum
/// changes its bits (a transport that adds in another order than rank order shows).
template <class T>
std::vector<T> values_of(int rank, std::size_t count, std::uint32_t salt) {
  std::vector<T> v(count);
  std::uint64_t s = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(rank + 1) * 0x100000001B3ull) ^ salt;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double unit = static_cast<double>(s >> 11) / 9007199254740992.0;  // [0, 1)
    const int exponent = static_cast<int>((s >> 3) % 7) - 3;
    x = static_cast<T>((unit * 2.0 - 1.0) * std::pow(10.0, exponent));
  }
  return v;
}

/// The sum over ranks 0, 1, ... in that order (ThreadGroup's order), element by element.
template <class T>
std::vector<T> rank_order_sum(int ranks, std::size_t count, std::uint32_t salt) {
  std::vector<T> total(count, T(0));
  for (int r = 0; r < ranks; ++r) {
    const auto v = values_of<T>(r, count, salt);
    for (std::size_t i = 0; i < count; ++i) total[i] += v[i];
  }
  return total;
}

template <class T>
bool same_bits(const T* a, const T* b, std::size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(T)) == 0;
}

inline std::string where(const Communicator& comm, const std::string& what) {
  return "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) + ": " + what;
}

/// Every rank holds the same bytes (checked through all_gather).
inline bool same_on_every_rank(Communicator& comm, const void* data, std::size_t bytes) {
  std::vector<std::byte> all(bytes * static_cast<std::size_t>(comm.size()));
  comm.all_gather(std::span<const std::byte>(static_cast<const std::byte*>(data), bytes), all);
  for (int r = 1; r < comm.size(); ++r)
    if (bytes != 0 && std::memcmp(all.data(), all.data() + static_cast<std::size_t>(r) * bytes, bytes) != 0)
      return false;
  return true;
}

/// allreduce_sum of `count` values: the same bits on every rank; with `rank_order`, the bits of the rank-order
/// sum, otherwise that sum to a relative 1e-5 (float) or 1e-12 (double) of the sum of magnitudes.
template <class T>
void check_allreduce(Communicator& comm, std::size_t count, bool rank_order, Failures& f) {
  const std::uint32_t salt = 11 + static_cast<std::uint32_t>(count);
  auto data = values_of<T>(comm.rank(), count, salt);
  comm.allreduce_sum(std::span<T>(data));
  const auto expected = rank_order_sum<T>(comm.size(), count, salt);
  const std::string what = "allreduce_sum of " + std::to_string(count) + (sizeof(T) == 4 ? " floats" : " doubles");
  f.expect(same_on_every_rank(comm, data.data(), count * sizeof(T)), where(comm, what + ": ranks differ"));
  if (rank_order) {
    f.expect(same_bits(data.data(), expected.data(), count), where(comm, what + ": not the rank-order sum's bits"));
  } else {
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
    for (std::size_t i = 0; i < count; ++i)
      if (std::abs(static_cast<double>(data[i]) - static_cast<double>(expected[i])) > tol * 1e3 * comm.size()) {
        f.expect(false, where(comm, what + ": value " + std::to_string(i) + " is " + std::to_string(data[i]) +
                                        ", expected " + std::to_string(expected[i])));
        break;
      }
  }
}

/// reduce_scatter_sum into blocks of n: each rank's block has the bits allreduce_sum gives that block (on this
/// transport), and with `rank_order` the rank-order sum's bits.
template <class T>
void check_reduce_scatter(Communicator& comm, std::size_t n, bool rank_order, Failures& f) {
  const auto ranks = static_cast<std::size_t>(comm.size());
  const auto me = static_cast<std::size_t>(comm.rank());
  const std::uint32_t salt = 101 + static_cast<std::uint32_t>(n);
  const auto in = values_of<T>(comm.rank(), n * ranks, salt);
  std::vector<T> out(n, T(-7));
  comm.reduce_scatter_sum(std::span<const T>(in), std::span<T>(out));
  auto all = in;
  comm.allreduce_sum(std::span<T>(all));
  const std::string what =
      "reduce_scatter_sum into blocks of " + std::to_string(n) + (sizeof(T) == 4 ? " floats" : " doubles");
  f.expect(same_bits(out.data(), all.data() + me * n, n), where(comm, what + ": not allreduce_sum's bits"));
  if (rank_order) {
    const auto expected = rank_order_sum<T>(comm.size(), n * ranks, salt);
    f.expect(same_bits(out.data(), expected.data() + me * n, n), where(comm, what + ": not the rank-order sum's bits"));
  }
  // the blocks of all ranks, gathered, are allreduce_sum's whole result
  std::vector<T> gathered(n * ranks);
  comm.all_gather(std::as_bytes(std::span<const T>(out)), std::as_writable_bytes(std::span<T>(gathered)));
  f.expect(same_bits(gathered.data(), all.data(), n * ranks), where(comm, what + ": gathered blocks differ"));
}

/// The byte `i` of rank r's all-gather payload.
inline std::byte payload_byte(int rank, std::size_t i) {
  return static_cast<std::byte>((rank * 37 + static_cast<int>(i) * 11 + 5) & 0xFF);
}

/// all_gather of `bytes` bytes per rank (odd sizes, empty), and of bf16 values; in place too.
inline void check_all_gather(Communicator& comm, std::size_t bytes, Failures& f) {
  const auto ranks = static_cast<std::size_t>(comm.size());
  const auto me = static_cast<std::size_t>(comm.rank());
  std::vector<std::byte> in(bytes);
  for (std::size_t i = 0; i < bytes; ++i) in[i] = payload_byte(comm.rank(), i);
  std::vector<std::byte> out(bytes * ranks, std::byte{0xEE});
  comm.all_gather(in, out);
  bool ok = true;
  for (std::size_t r = 0; r < ranks; ++r)
    for (std::size_t i = 0; i < bytes; ++i) ok = ok && out[r * bytes + i] == payload_byte(static_cast<int>(r), i);
  f.expect(ok, where(comm, "all_gather of " + std::to_string(bytes) + " bytes: wrong bytes"));
  // in place: in is this rank's block of out
  std::vector<std::byte> inplace(bytes * ranks, std::byte{0xEE});
  std::copy(in.begin(), in.end(), inplace.begin() + static_cast<std::ptrdiff_t>(me * bytes));
  comm.all_gather(std::span<const std::byte>(inplace.data() + me * bytes, bytes), inplace);
  f.expect(inplace == out, where(comm, "all_gather of " + std::to_string(bytes) + " bytes in place: wrong bytes"));
}

inline void check_all_gather_bf16(Communicator& comm, std::size_t count, Failures& f) {
  const auto ranks = static_cast<std::size_t>(comm.size());
  std::vector<bf16> in(count);
  const auto values = values_of<float>(comm.rank(), count, 7);
  for (std::size_t i = 0; i < count; ++i) in[i] = bf16(values[i]);
  std::vector<bf16> out(count * ranks);
  comm.all_gather(std::as_bytes(std::span<const bf16>(in)), std::as_writable_bytes(std::span<bf16>(out)));
  bool ok = true;
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto theirs = values_of<float>(static_cast<int>(r), count, 7);
    for (std::size_t i = 0; i < count; ++i) ok = ok && out[r * count + i].bits == bf16(theirs[i]).bits;
  }
  f.expect(ok, where(comm, "all_gather of " + std::to_string(count) + " bf16 values: wrong values"));
}

/// broadcast of `bytes` bytes from every root in turn.
inline void check_broadcast(Communicator& comm, std::size_t bytes, Failures& f) {
  for (int root = 0; root < comm.size(); ++root) {
    std::vector<std::byte> data(bytes, std::byte{0xEE});
    if (comm.rank() == root)
      for (std::size_t i = 0; i < bytes; ++i) data[i] = payload_byte(root + 100, i);
    comm.broadcast(data, root);
    bool ok = true;
    for (std::size_t i = 0; i < bytes; ++i) ok = ok && data[i] == payload_byte(root + 100, i);
    f.expect(ok, where(comm, "broadcast of " + std::to_string(bytes) + " bytes from rank " + std::to_string(root) +
                                 ": wrong bytes"));
  }
}

/// Arguments that are wrong on every rank alike (so no rank enters a collective): each throws pmc::Error
/// naming the problem.
inline void check_bad_arguments(Communicator& comm, Failures& f) {
  const auto throws_with = [&](auto&& call, const std::string& text, const std::string& what) {
    try {
      call();
      f.expect(false, where(comm, what + ": no error"));
    } catch (const pmc::Error& e) {
      f.expect(std::string(e.what()).find(text) != std::string::npos,
               where(comm, what + ": the error '" + e.what() + "' does not say '" + text + "'"));
    }
  };
  const auto ranks = static_cast<std::size_t>(comm.size());
  std::vector<float> in(2 * ranks + 1), out(2);
  throws_with([&] { comm.reduce_scatter_sum(std::span<const float>(in), std::span<float>(out)); },
              "in must hold size() blocks", "reduce_scatter_sum with in not size() blocks");
  std::vector<std::byte> bytes(3), gathered(3 * ranks + 1);
  throws_with([&] { comm.all_gather(bytes, gathered); }, "out must hold size() blocks",
              "all_gather with out not size() blocks");
  throws_with([&] { comm.broadcast(bytes, comm.size()); }, "broadcast from rank", "broadcast from no rank");
}

/// Everything above on one communicator, with a barrier between the parts.
inline Failures check_all(Communicator& comm, bool rank_order, const std::vector<std::size_t>& counts) {
  Failures f;
  for (const std::size_t n : counts) {
    check_allreduce<float>(comm, n, rank_order, f);
    check_allreduce<double>(comm, n, rank_order, f);
    check_reduce_scatter<float>(comm, n, rank_order, f);
    check_reduce_scatter<double>(comm, n, rank_order, f);
    comm.barrier();
    check_all_gather(comm, n, f);
    check_all_gather(comm, 2 * n + 1, f);  // odd
    check_all_gather_bf16(comm, n, f);
    check_broadcast(comm, n, f);
    check_broadcast(comm, 2 * n + 1, f);
    comm.barrier();
  }
  check_bad_arguments(comm, f);
  comm.barrier();
  return f;
}

}  // namespace pmc::test::dist_checks
