// SPDX-License-Identifier: MIT
// Data parallelism: a group of ranks (processes, or threads in tests), each holding a replica of the model (or,
// sharded, its share of the optimizer state) and training on its share of every batch, and the collectives that
// keep them consistent: a sum over the ranks (all-reduce), a sum of which each rank keeps one block
// (reduce-scatter), a concatenation of every rank's block (all-gather) and a broadcast. `Communicator` is the
// interface the trainer uses (train::TrainOptions::comm);
//   ThreadGroup  ranks as threads of one process (this header): tests and the reference for the others;
//   MpiCommunicator  ranks as MPI processes (<pmc/dist/mpi.hpp>, needs an MPI library: pmc::mpi).
// Every rank calls the collectives in the same order with the same sizes, as MPI requires.
#pragma once

#include <algorithm>
#include <barrier>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/core/transfer.hpp>

namespace pmc::dist {

/// One rank's view of its group.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// data[i] = Σ over the ranks of data[i], with the same result (the same bits) on every rank.
  virtual void allreduce_sum(std::span<float> data) = 0;
  virtual void allreduce_sum(std::span<double> data) = 0;
  /// Reduce-scatter: `in` holds size() blocks of out.size() values on every rank; out = Σ over the ranks of
  /// their block rank() of `in`, with the same bits as allreduce_sum gives for that block.
  ///   in  (size() · n)   out (n)
  virtual void reduce_scatter_sum(std::span<const float> in, std::span<float> out) = 0;
  virtual void reduce_scatter_sum(std::span<const double> in, std::span<double> out) = 0;
  /// All-gather: out (size() · in.size() bytes) = every rank's `in`, in rank order. Bytes, so any element
  /// type (fp32 weights, bf16 weights) travels unchanged.
  virtual void all_gather(std::span<const std::byte> in, std::span<std::byte> out) = 0;
  /// data = rank root's data, on every rank.
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  /// Returns when every rank has called it (rank 0 wrote a file the others are about to read).
  virtual void barrier() = 0;
  /// "mpi", "threads", ...: for logs.
  virtual std::string name() const = 0;
};

/// rank / size of an optional communicator: no communicator is one rank of one.
inline int rank_of(const Communicator* comm) { return comm ? comm->rank() : 0; }
inline int size_of(const Communicator* comm) { return comm ? comm->size() : 1; }
/// comm->barrier(), or nothing without a communicator.
inline void barrier(Communicator* comm) {
  if (comm) comm->barrier();
}

/// Sums each tensor over the ranks in place (gradients after a backward), in order; the tensors must be
/// contiguous. Tensors on the host are summed where they are; those on another device (a GPU) through a host
/// copy, summed and copied back (the transports here move host memory). A group of one rank does nothing.
template <class T, Device D>
void allreduce_sum(Communicator* comm, std::span<const Tensor<T, D>> tensors) {
  if (size_of(comm) == 1) return;
  for (const auto& t : tensors) {
    PMC_CHECK(t.is_contiguous(), "allreduce_sum: a tensor of shape ", t.shape().str(), " is not contiguous");
    const Tensor<T, Cpu> host = pmc::to_host(t);  // t itself on the host
    comm->allreduce_sum(std::span<T>(host.data(), static_cast<std::size_t>(host.numel())));
    if (host.data() != t.data()) pmc::copy(pmc::to_device<D>(host), t);
  }
}

/// `size` ranks as threads of one process: rank(r) is the communicator of the thread that plays rank r. A sum
/// adds the ranks' values in rank order on every rank, so every rank gets the same bits. For tests (the
/// data-parallel trainer against one process) and as the reference for other transports.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(checked(size)), sync_(size_), slots_(static_cast<std::size_t>(size_)) {
    for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
  }
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  Communicator& rank(int r) {
    PMC_CHECK(r >= 0 && r < size_, "ThreadGroup: no rank ", r, " in a group of ", size_);
    return *ranks_[static_cast<std::size_t>(r)];
  }

 private:
  struct Slot {
    const void* data = nullptr;
    std::size_t count = 0;
  };

  class Rank final : public Communicator {
   public:
    Rank(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return group_.size_; }
    void allreduce_sum(std::span<float> data) override { group_.sum(rank_, data); }
    void allreduce_sum(std::span<double> data) override { group_.sum(rank_, data); }
    void reduce_scatter_sum(std::span<const float> in, std::span<float> out) override {
      group_.reduce_scatter(rank_, in, out);
    }
    void reduce_scatter_sum(std::span<const double> in, std::span<double> out) override {
      group_.reduce_scatter(rank_, in, out);
    }
    void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
      group_.gather(rank_, in, out);
    }
    void broadcast(std::span<std::byte> data, int root) override { group_.broadcast(rank_, data, root); }
    void barrier() override { group_.sync_.arrive_and_wait(); }
    std::string name() const override { return "threads"; }

   private:
    ThreadGroup& group_;
    int rank_;
  };

  // Publish, wait for all; add everyone's values in rank order into a private buffer; wait until nobody reads
  // any more; then overwrite one's own data.
  template <class T>
  void sum(int rank, std::span<T> data) {
    slots_[static_cast<std::size_t>(rank)] = {data.data(), data.size()};
    sync_.arrive_and_wait();
    std::vector<T> total(data.size(), T(0));
    bool sizes_agree = true;
    for (const auto& slot : slots_) {
      if (slot.count != data.size()) {
        sizes_agree = false;
        continue;
      }
      const T* other = static_cast<const T*>(slot.data);
      for (std::size_t i = 0; i < total.size(); ++i) total[i] += other[i];
    }
    sync_.arrive_and_wait();
    PMC_CHECK(sizes_agree, "ThreadGroup: rank ", rank, " summed ", data.size(),
              " values while another rank summed a different number (collectives out of step)");
    std::copy(total.begin(), total.end(), data.begin());
  }

  // Rank r's block of everyone's `in`, summed in rank order (the bits allreduce_sum gives that block).
  template <class T>
  void reduce_scatter(int rank, std::span<const T> in, std::span<T> out) {
    const std::size_t n = out.size();
    PMC_CHECK(in.size() == n * static_cast<std::size_t>(size_), "ThreadGroup: reduce_scatter_sum of ", in.size(),
              " values into blocks of ", n, " on ", size_, " ranks (in must hold size() blocks)");
    slots_[static_cast<std::size_t>(rank)] = {in.data(), in.size()};
    sync_.arrive_and_wait();
    std::vector<T> total(n, T(0));
    bool sizes_agree = true;
    for (const auto& slot : slots_) {
      if (slot.count != in.size()) {
        sizes_agree = false;
        continue;
      }
      const T* block = static_cast<const T*>(slot.data) + static_cast<std::size_t>(rank) * n;
      for (std::size_t i = 0; i < n; ++i) total[i] += block[i];
    }
    sync_.arrive_and_wait();
    PMC_CHECK(sizes_agree, "ThreadGroup: rank ", rank, " reduce-scattered ", in.size(),
              " values while another rank gave a different number (collectives out of step)");
    std::copy(total.begin(), total.end(), out.begin());
  }

  // out = every rank's in, in rank order. out is written only after everyone has published (in and out may
  // not overlap on one rank, but may be anything across ranks).
  void gather(int rank, std::span<const std::byte> in, std::span<std::byte> out) {
    PMC_CHECK(out.size() == in.size() * static_cast<std::size_t>(size_), "ThreadGroup: all_gather of ", in.size(),
              " bytes into ", out.size(), " on ", size_, " ranks (out must hold size() blocks)");
    slots_[static_cast<std::size_t>(rank)] = {in.data(), in.size()};
    sync_.arrive_and_wait();
    bool sizes_agree = true;
    for (std::size_t r = 0; r < slots_.size(); ++r) {
      if (slots_[r].count != in.size()) {
        sizes_agree = false;
        continue;
      }
      std::copy_n(static_cast<const std::byte*>(slots_[r].data), in.size(), out.begin() + static_cast<std::ptrdiff_t>(r * in.size()));
    }
    sync_.arrive_and_wait();
    PMC_CHECK(sizes_agree, "ThreadGroup: rank ", rank, " all-gathered ", in.size(),
              " bytes while another rank gave a different number (collectives out of step)");
  }

  void broadcast(int rank, std::span<std::byte> data, int root) {
    PMC_CHECK(root >= 0 && root < size_, "ThreadGroup: broadcast from rank ", root, " of a group of ", size_);
    slots_[static_cast<std::size_t>(rank)] = {data.data(), data.size()};
    sync_.arrive_and_wait();
    const Slot& from = slots_[static_cast<std::size_t>(root)];
    const bool sizes_agree = from.count == data.size();
    if (sizes_agree && rank != root) std::copy_n(static_cast<const std::byte*>(from.data), data.size(), data.begin());
    sync_.arrive_and_wait();
    PMC_CHECK(sizes_agree, "ThreadGroup: rank ", rank, " broadcast ", data.size(), " bytes while rank ", root,
              " sent ", from.count, " (collectives out of step)");
  }

  static int checked(int size) {
    PMC_CHECK(size >= 1, "ThreadGroup: size must be at least 1, got ", size);
    return size;
  }

  int size_;
  std::barrier<> sync_;
  std::vector<Slot> slots_;
  std::vector<std::unique_ptr<Rank>> ranks_;
};

}  // namespace pmc::dist
