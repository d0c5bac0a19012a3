// SPDX-License-Identifier: MIT
// CountingCommunicator: a Communicator that forwards every collective to another and counts the bytes this rank
// sends for it under the ring algorithms (what MPI and NCCL use for large messages), for benchmarks and tests:
//   all-reduce of b bytes      2·(R-1)/R · b      (a reduce-scatter, then an all-gather)
//   reduce-scatter of b in     (R-1)/R · b
//   all-gather into b out      (R-1)/R · b
//   broadcast of b             b (from the root; counted on every rank as the pipeline forwards it)
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include <pmc/dist/communicator.hpp>

namespace pmc::dist {

class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(Communicator& inner) : inner_(inner) {}

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void allreduce_sum(std::span<float> data) override { count(2 * data.size_bytes()), inner_.allreduce_sum(data); }
  void allreduce_sum(std::span<double> data) override { count(2 * data.size_bytes()), inner_.allreduce_sum(data); }
  void reduce_scatter_sum(std::span<const float> in, std::span<float> out) override {
    count(in.size_bytes()), inner_.reduce_scatter_sum(in, out);
  }
  void reduce_scatter_sum(std::span<const double> in, std::span<double> out) override {
    count(in.size_bytes()), inner_.reduce_scatter_sum(in, out);
  }
  void all_gather(std::span<const std::byte> in, std::span<std::byte> out) override {
    count(out.size_bytes()), inner_.all_gather(in, out);
  }
  void broadcast(std::span<std::byte> data, int root) override {
    sent_ += static_cast<double>(data.size_bytes());
    inner_.broadcast(data, root);
  }
  void barrier() override { inner_.barrier(); }
  bool device_memory() const override { return inner_.device_memory(); }
  bool callable_from_any_thread() const override { return inner_.callable_from_any_thread(); }
  std::string name() const override { return inner_.name(); }

  /// Bytes this rank has sent since construction or the last reset (ring volumes, see above).
  double bytes_sent() const { return sent_; }
  void reset() { sent_ = 0; }

 private:
  // (R-1)/R of `bytes`: the share of a ring collective's volume that leaves this rank
  void count(std::size_t bytes) {
    const int r = inner_.size();
    sent_ += static_cast<double>(bytes) * static_cast<double>(r - 1) / static_cast<double>(r);
  }

  Communicator& inner_;
  double sent_ = 0;
};

}  // namespace pmc::dist
