// SPDX-License-Identifier: MIT
// Data parallelism: a group of ranks (processes, or threads in tests), each holding a replica of the model (or,
// sharded, its share of the optimizer state) and training on its share of every batch, and the collectives that
// keep them consistent: a sum over the ranks (all-reduce), a sum of which each rank keeps one block
// (reduce-scatter), a concatenation of every rank's block (all-gather) and a broadcast. `Communicator` is the
// interface the trainer uses (train::TrainOptions::comm);
//   ThreadGroup  ranks as threads of one process (this header): tests and the reference for the others;
//   MpiCommunicator  ranks as MPI processes (<pmc/dist/mpi.hpp>, needs an MPI library: pmc::mpi);
//   NcclCommunicator  one GPU per process over NCCL (<pmc/dist/nccl.hpp>, CUDA and NCCL: pmc::nccl); its spans
//                     are device memory (device_memory()).
// Every rank calls the collectives in the same order with the same sizes, as MPI requires.
#pragma once

#include <algorithm>
#include <barrier>
#include <cstdlib>
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
  ///   in  (size() · n)   out (n), not overlapping in
  virtual void reduce_scatter_sum(std::span<const float> in, std::span<float> out) = 0;
  virtual void reduce_scatter_sum(std::span<const double> in, std::span<double> out) = 0;
  /// All-gather: out (size() · in.size() bytes) = every rank's `in`, in rank order. Bytes, so any element
  /// type (fp32 weights, bf16 weights) travels unchanged. `in` may be this rank's own block of `out` (in place:
  /// in.data() == out.data() + rank() · in.size()); otherwise the two may not overlap.
  virtual void all_gather(std::span<const std::byte> in, std::span<std::byte> out) = 0;
  /// data = rank root's data, on every rank.
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  /// Returns when every rank has called it (rank 0 wrote a file the others are about to read).
  virtual void barrier() = 0;
  /// "mpi", "threads", ...: for logs.
  virtual std::string name() const = 0;
  /// Whether the spans given to the collectives are device (GPU) memory rather than host memory: false for
  /// ThreadGroup and MPI, true for NCCL.
  virtual bool device_memory() const { return false; }
  /// Whether another thread than the caller's may run the collectives, one thread at a time (dist::CommThread):
  /// ThreadGroup's ranks always; MPI when initialized with MPI_THREAD_SERIALIZED or more (MpiSession asks for it).
  virtual bool callable_from_any_thread() const { return true; }
};

/// Rank `rank`'s share of a flattened tensor of n elements split over `ranks`: elements [begin, end) of the
/// chunks of `chunk` = ⌈n / ranks⌉ (the last ranks' shares may be short or empty). Padded to ranks · chunk, a
/// tensor reduce-scatters and all-gathers in equal blocks; any rank count works, not only powers of two.
struct ShardRange {
  std::int64_t begin = 0, end = 0, chunk = 0;
  std::int64_t size() const { return end - begin; }
};
constexpr ShardRange shard_range(std::int64_t n, int ranks, int rank) {
  const std::int64_t chunk = ranks > 0 ? (n + ranks - 1) / ranks : n;
  return {std::min(n, chunk * rank), std::min(n, chunk * (rank + 1)), chunk};
}

/// The number of processes a launcher (mpirun of Open MPI or MPICH, Slurm's srun) says this one is part of; 1
/// when none started it.
inline int launched_ranks() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  return 1;
}

/// rank / size of an optional communicator: no communicator is one rank of one.
inline int rank_of(const Communicator* comm) { return comm ? comm->rank() : 0; }
inline int size_of(const Communicator* comm) { return comm ? comm->size() : 1; }
/// comm->barrier(), or nothing without a communicator.
inline void barrier(Communicator* comm) {
  if (comm) comm->barrier();
}

namespace detail {
/// fn(a pointer to t's elements in the memory comm's collectives take): t's own on the host, or a host copy of a
/// tensor on another device (copied back after fn when `writes`); with a communicator of device memory (NCCL:
/// device_memory()) a device tensor's own, and a host tensor is refused. t must be contiguous.
template <class T, Device D, class Fn>
void in_comm_memory(Communicator* comm, const Tensor<T, D>& t, bool writes, const char* who, Fn&& fn) {
  PMC_CHECK(t.is_contiguous(), who, ": a tensor of shape ", t.shape().str(), " is not contiguous");
  if (comm->device_memory()) {
    if constexpr (OffHostDevice<D>) {
      fn(t.data());
    } else {
      fail(who, ": the ", comm->name(), " communicator works on device memory, but a tensor of shape ",
           t.shape().str(), " is on the host");
    }
    return;
  }
  const Tensor<T, Cpu> host = pmc::to_host(t);  // t itself on the host
  fn(host.data());
  if (writes && host.data() != t.data()) pmc::copy(pmc::to_device<D>(host), t);
}
}  // namespace detail

/// Sums each tensor over the ranks in place (gradients after a backward), in order; the tensors must be
/// contiguous. A communicator of host memory sums host tensors where they are and those on another device (a
/// GPU) through a host copy, summed and copied back; a communicator of device memory (NCCL: device_memory())
/// sums device tensors where they are and refuses host tensors. A group of one rank does nothing.
template <class T, Device D>
void allreduce_sum(Communicator* comm, std::span<const Tensor<T, D>> tensors) {
  if (size_of(comm) == 1) return;
  for (const auto& t : tensors)
    detail::in_comm_memory(comm, t, true, "allreduce_sum", [&](T* p) {
      comm->allreduce_sum(std::span<T>(p, static_cast<std::size_t>(t.numel())));
    });
}

/// Communicator::reduce_scatter_sum on tensors (in: size() · out.numel() elements), on any device as
/// allreduce_sum.
template <class T, Device D>
void reduce_scatter_sum(Communicator* comm, const Tensor<T, D>& in, const Tensor<T, D>& out) {
  detail::in_comm_memory(comm, in, false, "reduce_scatter_sum", [&](T* from) {
    detail::in_comm_memory(comm, out, true, "reduce_scatter_sum", [&](T* to) {
      comm->reduce_scatter_sum(std::span<const T>(from, static_cast<std::size_t>(in.numel())),
                               std::span<T>(to, static_cast<std::size_t>(out.numel())));
    });
  });
}

/// Communicator::all_gather on tensors (out: size() · in.numel() elements of any type), on any device as
/// allreduce_sum.
template <class T, Device D>
void all_gather(Communicator* comm, const Tensor<T, D>& in, const Tensor<T, D>& out) {
  detail::in_comm_memory(comm, in, false, "all_gather", [&](T* from) {
    detail::in_comm_memory(comm, out, true, "all_gather", [&](T* to) {
      comm->all_gather(std::span<const std::byte>(reinterpret_cast<const std::byte*>(from), static_cast<std::size_t>(in.numel()) * sizeof(T)),
                       std::span<std::byte>(reinterpret_cast<std::byte*>(to), static_cast<std::size_t>(out.numel()) * sizeof(T)));
    });
  });
}

/// `size` ranks as threads of one process: rank(r) is the communicator of the thread that plays rank r. A sum
/// adds the ranks' values in rank order on every rank, so every rank gets the same bits. For tests (the
/// data-parallel trainer against one process) and as the reference for other transports.
///
/// Every collective (the barrier too) publishes what this rank asks for (which collective, how many values, the
/// root), waits for all, reads the others only if everyone asked for the same, and waits again; so ranks out of
/// step (different sizes, roots or collectives, or one rank's arguments wrong) all throw pmc::Error from the same
/// call instead of deadlocking or reading past a buffer.
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
  enum class Op { sum_f32, sum_f64, reduce_scatter_f32, reduce_scatter_f64, all_gather, broadcast, barrier };
  /// The count a rank publishes when its own arguments are wrong: no other rank's count equals it.
  static constexpr std::size_t kBadArguments = static_cast<std::size_t>(-1);

  struct Slot {
    const void* data = nullptr;
    std::size_t count = 0;
    Op op = Op::barrier;
    int root = 0;
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
    void barrier() override { group_.barrier(rank_); }
    std::string name() const override { return "threads"; }

   private:
    ThreadGroup& group_;
    int rank_;
  };

  template <class T>
  static constexpr Op sum_op() {
    return sizeof(T) == sizeof(float) ? Op::sum_f32 : Op::sum_f64;
  }
  template <class T>
  static constexpr Op reduce_scatter_op() {
    return sizeof(T) == sizeof(float) ? Op::reduce_scatter_f32 : Op::reduce_scatter_f64;
  }

  // Publishes this rank's slot and waits for all; true when every rank published the same collective, count
  // and root (and none published kBadArguments).
  bool publish_and_agree(int rank, const Slot& mine) {
    slots_[static_cast<std::size_t>(rank)] = mine;
    sync_.arrive_and_wait();
    if (mine.count == kBadArguments) return false;
    return std::all_of(slots_.begin(), slots_.end(), [&](const Slot& s) {
      return s.op == mine.op && s.count == mine.count && s.root == mine.root;
    });
  }

  // Add everyone's values in rank order into a private buffer; wait until nobody reads any more; then
  // overwrite one's own data.
  template <class T>
  void sum(int rank, std::span<T> data) {
    const bool agree = publish_and_agree(rank, {data.data(), data.size(), sum_op<T>()});
    std::vector<T> total(agree ? data.size() : 0, T(0));
    if (agree)
      for (const auto& slot : slots_) {
        const T* other = static_cast<const T*>(slot.data);
        for (std::size_t i = 0; i < total.size(); ++i) total[i] += other[i];
      }
    sync_.arrive_and_wait();
    PMC_CHECK(agree, "ThreadGroup: rank ", rank, " summed ", data.size(),
              " values while another rank summed a different number or called another collective (collectives out "
              "of step)");
    std::copy(total.begin(), total.end(), data.begin());
  }

  // Rank r's block of everyone's `in`, summed in rank order (the bits allreduce_sum gives that block).
  template <class T>
  void reduce_scatter(int rank, std::span<const T> in, std::span<T> out) {
    const std::size_t n = out.size();
    const bool fits = in.size() == n * static_cast<std::size_t>(size_);
    const bool agree =
        publish_and_agree(rank, {in.data(), fits ? in.size() : kBadArguments, reduce_scatter_op<T>()});
    std::vector<T> total(agree ? n : 0, T(0));
    if (agree)
      for (const auto& slot : slots_) {
        const T* block = static_cast<const T*>(slot.data) + static_cast<std::size_t>(rank) * n;
        for (std::size_t i = 0; i < n; ++i) total[i] += block[i];
      }
    sync_.arrive_and_wait();
    PMC_CHECK(fits, "ThreadGroup: reduce_scatter_sum of ", in.size(), " values into blocks of ", n, " on ", size_,
              " ranks (in must hold size() blocks)");
    PMC_CHECK(agree, "ThreadGroup: rank ", rank, " reduce-scattered ", in.size(),
              " values while another rank gave a different number or called another collective (collectives out "
              "of step)");
    std::copy(total.begin(), total.end(), out.begin());
  }

  // out = every rank's in, in rank order. out is written only after everyone has published; in may be this
  // rank's own block of out (in place, skipped), otherwise in and out of one rank may not overlap.
  void gather(int rank, std::span<const std::byte> in, std::span<std::byte> out) {
    const bool fits = out.size() == in.size() * static_cast<std::size_t>(size_);
    const bool agree = publish_and_agree(rank, {in.data(), fits ? in.size() : kBadArguments, Op::all_gather});
    if (agree)
      for (std::size_t r = 0; r < slots_.size(); ++r) {
        std::byte* const block = out.data() + r * in.size();
        if (slots_[r].data != block) std::copy_n(static_cast<const std::byte*>(slots_[r].data), in.size(), block);
      }
    sync_.arrive_and_wait();
    PMC_CHECK(fits, "ThreadGroup: all_gather of ", in.size(), " bytes into ", out.size(), " on ", size_,
              " ranks (out must hold size() blocks)");
    PMC_CHECK(agree, "ThreadGroup: rank ", rank, " all-gathered ", in.size(),
              " bytes while another rank gave a different number or called another collective (collectives out "
              "of step)");
  }

  void broadcast(int rank, std::span<std::byte> data, int root) {
    const bool fits = root >= 0 && root < size_;
    const bool agree =
        publish_and_agree(rank, {data.data(), fits ? data.size() : kBadArguments, Op::broadcast, root});
    if (agree && rank != root)
      std::copy_n(static_cast<const std::byte*>(slots_[static_cast<std::size_t>(root)].data), data.size(),
                  data.begin());
    sync_.arrive_and_wait();
    PMC_CHECK(fits, "ThreadGroup: broadcast from rank ", root, " of a group of ", size_);
    PMC_CHECK(agree, "ThreadGroup: rank ", rank, " broadcast ", data.size(), " bytes from rank ", root,
              " while another rank gave a different size or root or called another collective (collectives out "
              "of step)");
  }

  void barrier(int rank) {
    const bool agree = publish_and_agree(rank, {nullptr, 0, Op::barrier});
    sync_.arrive_and_wait();
    PMC_CHECK(agree, "ThreadGroup: rank ", rank,
              " called barrier while another rank called another collective (collectives out of step)");
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
