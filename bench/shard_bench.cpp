// SPDX-License-Identifier: MIT
// Sharded data parallelism (train/sharding.hpp) on CPU ranks: for each shard level, a training step's seconds,
// each rank's measured peak of memory (pmc's allocator: weights, gradients, masters, AdamW state, activations,
// communication buffers) against `pmc plan --ranks R --shard LEVEL` (llama::plan_memory), and the bytes a rank
// sends per step (ring volumes, dist::CountingCommunicator). Run it as MPI processes, the way training runs:
//   mpirun -np 2 build/release/bench/shard_bench          # 2 ranks (needs the pmc::mpi component)
//   build/release/bench/shard_bench                        # 1 rank: the reference
// Every rank runs the same fixed iterations (collectives need it); rank 0 reports, with the largest peak of
// any rank. The model (16 blocks of dim 512 with a 4096-token vocabulary) has parameters, not activations, as
// the larger part of memory, and, as 7B (4%) and 13B (2.5%), a small share of them outside the blocks (7.7%):
// ZeRO-3 holds those whole for a micro-batch. The peak is taken from the first step on (after the trainer
// is made: loading a model is not a step).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include <pmc/dist/counting.hpp>
#include <pmc/pmc.hpp>
#if defined(PMC_WITH_MPI)
#include <pmc/dist/mpi.hpp>
#endif

#include "fill_weights.hpp"

namespace {

using namespace pmc;

dist::Communicator* world = nullptr;  // MPI_COMM_WORLD when started by mpirun with several processes

constexpr llama::Config kShape{.dim = 512, .n_layers = 16, .n_heads = 8, .n_kv_heads = 8, .ffn_dim = 1376,
                               .vocab_size = 4096, .max_seq_len = 256, .norm_eps = 1e-5f, .rope_theta = 1e4f};

/// arg: shard level (0 none, 1 optimizer, 2 gradients, 3 full: with activation recompute, as it needs).
template <class T>
void BM_ShardStep(benchmark::State& state) {
  const auto level = std::array{train::ShardLevel::none, train::ShardLevel::optimizer, train::ShardLevel::gradients,
                                train::ShardLevel::full}[static_cast<std::size_t>(state.range(0))];
  const int ranks = dist::size_of(world), rank = dist::rank_of(world);
  const std::int64_t T_ = 128, B = 2;  // per rank
  std::optional<dist::CountingCommunicator> counting;
  if (world) counting.emplace(*world);
  const auto dir = std::filesystem::temp_directory_path() / ("pmc_shard_bench_" + std::to_string(rank));
  std::filesystem::create_directories(dir);
  data::write_token_file(dir / "t.tokens", {std::vector<std::int32_t>(static_cast<std::size_t>(T_ + 2), 1)},
                         kShape.vocab_size);
  const auto tf = data::TokenFile::open(dir / "t.tokens");
  const std::int64_t before = Allocator<Cpu>::live_bytes();
  std::int64_t peak = 0;
  double seconds = 0, sent = 0;
  {
    llama::Model<llama::dynamic, T> model(kShape, true);
    bench::fill_weights(model, 0.02f);
    train::TrainOptions o;
    o.seq_len = T_;
    o.batch = B * ranks;
    o.steps = 1 << 20;
    o.lr = 1e-4;
    o.out_dir = std::filesystem::temp_directory_path() / "pmc_shard_bench_run";
    o.progress = false;
    o.comm = counting ? &*counting : nullptr;
    o.shard = level;
    o.recompute = level == train::ShardLevel::full;
    train::Trainer trainer(model, tf, nullptr, o);
    Allocator<Cpu>::reset_peak_bytes();
    std::mt19937 rng(3 + static_cast<unsigned>(rank));
    std::uniform_int_distribution<std::int32_t> tok(0, kShape.vocab_size - 1);
    data::Batch b{Tensor<std::int32_t>({B, T_}), Tensor<std::int32_t>({B, T_}), B * T_};
    for (auto& t : b.tokens.span()) t = tok(rng);
    for (auto& t : b.targets.span()) t = tok(rng);
    trainer.train_step_on({b});  // allocates what stays between steps
    if (counting) counting->reset();
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(trainer.train_step_on({b}).loss);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    peak = Allocator<Cpu>::peak_bytes() - before;
    if (counting) sent = counting->bytes_sent() / static_cast<double>(state.iterations());
  }
  double largest = static_cast<double>(peak);  // the largest peak of any rank
  if (world) {
    std::vector<double> all(static_cast<std::size_t>(ranks), 0.0);
    all[static_cast<std::size_t>(rank)] = largest;
    world->allreduce_sum(std::span<double>(all));
    largest = *std::max_element(all.begin(), all.end());
  }
  llama::PlanOptions po;
  po.dtype = std::is_same_v<T, bf16> ? llama::PlanDtype::bf16 : llama::PlanDtype::fp32;
  po.batch = B;
  po.seq = T_;
  po.ranks = ranks;
  po.shard = std::array{llama::PlanShard::none, llama::PlanShard::optimizer, llama::PlanShard::gradients,
                        llama::PlanShard::full}[static_cast<std::size_t>(state.range(0))];
  po.recompute = level == train::ShardLevel::full;
  const auto plan = llama::plan_memory(kShape, po);
  auto one = po;  // an unsharded rank's gradient and optimizer bytes
  one.ranks = 1;
  one.shard = llama::PlanShard::none;
  const auto unsharded = llama::plan_memory(kShape, one);
  state.counters["ranks"] = ranks;
  state.counters["step_s"] = seconds / static_cast<double>(state.iterations());
  state.counters["peak_GB"] = largest / 1e9;
  state.counters["plan_GB"] = static_cast<double>(plan.total_bytes()) / 1e9;
  state.counters["peak_over_plan"] = largest / static_cast<double>(plan.total_bytes());
  state.counters["grad_opt_GB"] = static_cast<double>(plan.gradient_bytes + plan.optimizer_bytes + plan.master_bytes) / 1e9;
  state.counters["sent_MB_per_step"] = sent / 1e6;
  state.counters["peak_over_unsharded_grad_opt"] =
      largest / static_cast<double>(unsharded.gradient_bytes + unsharded.optimizer_bytes);
}

BENCHMARK(BM_ShardStep<float>)->Name("BM_ShardStep/fp32")->Arg(0)->Arg(1)->Arg(2)->Arg(3)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_ShardStep<bf16>)->Name("BM_ShardStep/bf16")->Arg(0)->Arg(1)->Arg(2)->Arg(3)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

/// Ranks other than 0 run the benchmarks (their collectives are needed) without printing.
class QuietReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
#if defined(PMC_WITH_MPI)
  std::optional<dist::MpiSession> session;
  std::optional<dist::MpiCommunicator> comm;
  if (dist::launched_ranks() > 1) {
    session.emplace(argc, argv);
    comm.emplace();
    world = &*comm;
  }
#endif
  benchmark::Initialize(&argc, argv);
  if (dist::rank_of(world) == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    QuietReporter quiet;
    benchmark::RunSpecifiedBenchmarks(&quiet);
  }
  benchmark::Shutdown();
  return 0;
}
