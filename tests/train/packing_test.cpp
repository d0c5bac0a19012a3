// SPDX-License-Identifier: MIT
// Packing instruction examples several to a window: the loss and every parameter gradient of the examples
// packed (block-diagonal causal mask, positions restarting per example, data/pack.hpp) equal those of each
// example alone in its own padded window, weighted as the trainer weights micro-batches (by target tokens), to
// fp32 rounding and in double to ~1e-12; with activation recompute too. The trainer runs on packed windows, and
// on 2 thread ranks, unsharded and with the weights sharded (ZeRO-3), trains what one process trains.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/data/pack.hpp>
#include <pmc/train/trainer.hpp>
#include <support/compare.hpp>
#include <support/paths.hpp>
#include <support/thread_ranks.hpp>

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace packing_test {

namespace fs = std::filesystem;
using namespace pmc;

namespace {

constexpr llama::Config kModel{.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 64,
                               .vocab_size = 64, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f};
constexpr std::int64_t kT = 24;  // windows of T + 1 = 25 tokens

/// Instruction-like examples: BOS (1), a prompt (not predicted), a response and EOS (2) (predicted).
struct Examples {
  std::vector<std::vector<std::int32_t>> docs;
  std::vector<std::vector<std::uint8_t>> masks;
};
Examples make_examples(bool with_empty = false) {
  Examples x;
  std::mt19937_64 rng(11);
  const std::vector<std::pair<int, int>> lengths{{4, 3}, {9, 5}, {2, 2}, {6, 10}, {3, 4}, {12, 6}, {1, 1}};  // prompt, response
  for (const auto& [p, r] : lengths) {
    std::vector<std::int32_t> ids{1};
    std::vector<std::uint8_t> m{0};
    for (int i = 0; i < p; ++i) ids.push_back(static_cast<std::int32_t>(3 + rng() % 61)), m.push_back(0);
    for (int i = 0; i < r; ++i) ids.push_back(static_cast<std::int32_t>(3 + rng() % 61)), m.push_back(1);
    ids.push_back(2), m.push_back(1);
    x.docs.push_back(ids);
    x.masks.push_back(m);
  }
  if (with_empty) {  // a whole window of prompt (no target): a window, and a rank's micro-batch, without targets
    std::vector<std::int32_t> ids{1};
    for (std::int64_t i = 1; i <= kT; ++i) ids.push_back(static_cast<std::int32_t>(3 + rng() % 61));
    x.docs.push_back(ids);
    x.masks.emplace_back(ids.size(), 0);
  }
  return x;
}

/// The windows of `file` through Trainer::accumulate_gradients: each window a micro-batch of one row (weighted,
/// as the trainer weights micro-batches, by its share of the target tokens), or all in one micro-batch (B rows:
/// the mean over all target tokens). The loss and the gradients (as double).
/// (Micro-batches scale each loss by its share as a float: exact in fp32, but 6e-8 relative in fp64, where the
/// one-micro-batch form is the exact comparison.)
template <class T>
std::pair<double, std::vector<std::vector<double>>> loss_and_grads(const fs::path& file_path, const std::string& run,
                                                                   bool recompute, bool one_batch) {
  const auto file = data::TokenFile::open(file_path);
  llama::Model<kModel, T> model;
  model.init_random(5, 0.2f);
  train::TrainOptions o;
  o.seq_len = kT;
  o.batch = 1;
  o.steps = 1;
  o.packing = data::Packing::doc_start;
  o.recompute = recompute;
  o.progress = false;
  o.out_dir = test::tmp_dir() / ("packing_" + run);
  fs::remove_all(o.out_dir);
  train::Trainer<kModel, T> trainer(model, file, nullptr, o);
  std::vector<data::Window> windows;
  for (std::uint64_t d = 0; d < file.n_docs(); ++d) windows.push_back({file.doc_start(d), file.doc_size(d)});
  std::vector<data::Batch> batches;
  if (one_batch) batches.push_back(data::make_batch(file, windows, kT));
  else
    for (const auto& w : windows) batches.push_back(data::make_batch(file, {w}, kT));
  const double loss = trainer.accumulate_gradients(batches);
  std::vector<std::vector<double>> grads;
  for (const auto& p : trainer.parameters()) {
    const auto g = p.grad.contiguous();
    std::vector<double> v(static_cast<std::size_t>(g.numel()));
    for (std::int64_t i = 0; i < g.numel(); ++i) v[static_cast<std::size_t>(i)] = static_cast<double>(g.data()[i]);
    grads.push_back(std::move(v));
  }
  return {loss, grads};
}

/// max |a − b| / max |b| over one gradient (1 where b is all zero).
double relative(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i])), s = std::max(s, std::abs(b[i]));
  return d / (s > 0 ? s : 1);
}

struct Files {
  fs::path packed, unpacked;
  std::int64_t windows = 0;
};
Files write_files(bool with_empty = false) {
  const auto x = make_examples(with_empty);
  Files f{test::tmp_dir() / "packing_packed.tokens", test::tmp_dir() / "packing_unpacked.tokens"};
  data::write_token_file(f.unpacked, x.docs, kModel.vocab_size, &x.masks);
  const auto p = data::pack_examples(x.docs, x.masks, kT + 1, 3);
  data::write_token_file(f.packed, p.docs, kModel.vocab_size, &p.masks, &p.segments);
  f.windows = p.windows();
  return f;
}

template <class T>
void check_packed_equals_unpacked(double tol, bool recompute, bool one_batch) {
  const Files f = write_files();
  CHECK(f.windows == 4);  // 7 examples (82 tokens) in 4 windows of 25 (at least 4: 82 > 3·25)
  const auto [lu, gu] = loss_and_grads<T>(f.unpacked, "unpacked", false, one_batch);
  const auto [lp, gp] = loss_and_grads<T>(f.packed, "packed", recompute, one_batch);
  CHECK(std::abs(lp - lu) <= tol * std::abs(lu));
  REQUIRE(gu.size() == gp.size());
  double worst = 0;
  for (std::size_t i = 0; i < gu.size(); ++i) {
    INFO("parameter ", i);
    CHECK(relative(gp[i], gu[i]) <= tol);
    worst = std::max(worst, relative(gp[i], gu[i]));
  }
  MESSAGE("packed vs unpacked: loss ", lp, " vs ", lu, ", largest relative gradient difference ", worst);
}

/// Losses and final weights of a run on packed windows.
template <class T>
struct Run {
  std::vector<double> losses, eval_losses;  // (evaluation: rank 0's, or every rank's with the weights sharded)
  std::vector<Tensor<T>> weights;
};

/// Trains on the packed file for 6 steps of `batch` windows on `ranks` thread ranks (1: no communicator) at the
/// given shard level; every rank's result.
template <class T>
std::vector<Run<T>> train_packed(const data::TokenFile& file, int ranks, train::ShardLevel level, bool recompute,
                                 std::int64_t batch, std::int64_t grad_accum, const std::string& name) {
  train::TrainOptions o;
  o.seq_len = kT;
  o.batch = batch;
  o.grad_accum = grad_accum;
  o.steps = 6;
  o.lr = 1e-2;
  o.warmup = 0;
  o.clip = 0.5;
  o.seed = 3;
  o.packing = data::Packing::doc_start;
  o.recompute = recompute;
  o.shard = level;
  o.eval_every = 3;  // (sharded weights: every rank runs the evaluation's gathers)
  o.eval_batches = 2;
  o.progress = false;
  o.out_dir = test::tmp_dir() / ("packing_ranks_" + name);
  fs::remove_all(o.out_dir);
  auto one = [&](dist::Communicator* comm) {
    auto mine = o;
    mine.comm = comm;
    llama::Model<kModel, T> model;
    model.init_random(5, 0.2f);
    train::Trainer<kModel, T> trainer(model, file, &file, mine);
    trainer.run();
    Run<T> r;
    for (const auto& rec : trainer.history()) {
      r.losses.push_back(rec.loss);
      if (rec.eval_loss) r.eval_losses.push_back(*rec.eval_loss);
    }
    for (const auto& p : model.named_parameters()) r.weights.push_back(p.var.value().clone());
    return r;
  };
  if (ranks == 1) return {one(nullptr)};
  return test::on_thread_ranks<Run<T>>(ranks, [&](dist::Communicator& comm) { return one(&comm); });
}

/// Every rank of a packed run on `ranks` at `level` against one process: training and evaluation losses within
/// `loss_tol`, weights within `weight_tol` (relative), replicas equal to the bit.
template <class T>
void check_packed_ranks(int ranks, train::ShardLevel level, std::int64_t batch, std::int64_t grad_accum,
                        double loss_tol, double weight_tol, bool with_empty = false) {
  const Files f = write_files(with_empty);
  const auto file = data::TokenFile::open(f.packed);
  const auto one = train_packed<T>(file, 1, train::ShardLevel::none, false, batch, grad_accum, "one")[0];
  REQUIRE(one.losses.size() == 6);
  REQUIRE(one.eval_losses.size() == 2);
  const bool full = level == train::ShardLevel::full;
  const auto all = train_packed<T>(file, ranks, level, full, batch, grad_accum, "ranks");
  REQUIRE(all.size() == static_cast<std::size_t>(ranks));
  double worst_loss = 0, worst_weight = 0;
  for (const auto& r : all) {
    REQUIRE(r.losses.size() == one.losses.size());
    for (std::size_t s = 0; s < r.losses.size(); ++s)
      worst_loss = std::max(worst_loss, std::abs(r.losses[s] - one.losses[s]) / std::abs(one.losses[s]));
    if (&r == &all[0] || full) {
      REQUIRE(r.eval_losses.size() == one.eval_losses.size());
      for (std::size_t s = 0; s < r.eval_losses.size(); ++s)
        worst_loss = std::max(worst_loss, std::abs(r.eval_losses[s] - one.eval_losses[s]) / one.eval_losses[s]);
    }
    for (std::size_t i = 0; i < r.weights.size(); ++i) {
      worst_weight = std::max(worst_weight, test::max_rel_diff(r.weights[i], one.weights[i]));
      CHECK(r.weights[i].to_vector() == all[0].weights[i].to_vector());
    }
  }
  MESSAGE(ranks, " ranks, shard ", train::shard_level_name(level), ", batch ", batch, ", accumulation ", grad_accum,
          ": largest relative loss difference ", worst_loss, ", weight difference ", worst_weight);
  CHECK(worst_loss <= loss_tol);
  CHECK(worst_weight <= weight_tol);
}

}  // namespace

// (the bounds of sharding_test.cpp: fp64 to 1e-12 in the loss and 1e-10 in the weights, fp32 to 1e-6 and 1e-4.
// fp64 to 1e-7 and 1e-5 only where an unsharded trainer splits the batch (ranks at shard none, or the one
// process's 2 micro-batches): it scales each part's loss by its share of the targets as a float (autograd::scale,
// 6e-8 relative), and packed windows hold uneven target counts, so the shares are not exact binary fractions.)
TEST_CASE("packing on 2 thread ranks: shard none and shard full train the model one process trains") {
  for (const auto level : {train::ShardLevel::none, train::ShardLevel::full}) {
    CAPTURE(train::shard_level_name(level));
    const bool full = level == train::ShardLevel::full;
    check_packed_ranks<double>(2, level, 2, 1, full ? 1e-12 : 1e-7, full ? 1e-10 : 1e-5);
    check_packed_ranks<double>(2, level, 4, 2, 1e-7, 1e-5);
    check_packed_ranks<float>(2, level, 2, 1, 1e-6, 1e-4);
    check_packed_ranks<float>(2, level, 4, 2, 1e-6, 1e-4);        // micro-batches of one window per rank
    check_packed_ranks<float>(2, level, 2, 1, 1e-6, 1e-4, true);  // a window without targets: a rank idle
    check_packed_ranks<float>(2, level, 4, 2, 1e-6, 1e-4, true);
  }
}

TEST_CASE("packing: the packed loss and gradients equal the unpacked ones, fp32 within 1e-5 relative") {
  check_packed_equals_unpacked<float>(1e-5, false, false);  // a micro-batch per window, weighted by target tokens
  check_packed_equals_unpacked<float>(1e-5, false, true);   // one micro-batch of all windows
}

TEST_CASE("packing: the packed loss and gradients equal the unpacked ones, fp64 within 1e-12 relative") {
  check_packed_equals_unpacked<double>(1e-12, false, true);
  check_packed_equals_unpacked<double>(1e-7, false, false);  // (the float shares: see loss_and_grads)
}

TEST_CASE("packing: with activation recompute, the same (fp64 within 1e-12 relative, fp32 within 1e-5)") {
  check_packed_equals_unpacked<double>(1e-12, true, true);
  check_packed_equals_unpacked<float>(1e-5, true, false);
}

TEST_CASE("packing: the trainer trains on packed windows, and a KV cache with segments is refused") {
  const Files f = write_files();
  const auto file = data::TokenFile::open(f.packed);
  llama::Model<kModel, float> model;
  model.init_random(5);
  train::TrainOptions o;
  o.seq_len = kT;
  o.batch = 3;
  o.steps = 6;
  o.lr = 1e-2;
  o.warmup = 0;
  o.packing = data::Packing::doc_start;
  o.progress = false;
  o.out_dir = test::tmp_dir() / "packing_train";
  fs::remove_all(o.out_dir);
  {
    train::Trainer<kModel, float> trainer(model, file, nullptr, o);
    CHECK(trainer.run());
    CHECK(trainer.history().back().loss < trainer.history().front().loss);
  }
  o.packing = data::Packing::plain;  // packed windows are read one per document
  CHECK_THROWS_WITH((train::Trainer<kModel, float>(model, file, nullptr, o)), doctest::Contains("Packing::doc_start"));
  const auto seg = std::make_shared<const ops::Segments>(ops::Segments::whole(1, 4));
  llama::KvCache<float, Cpu> cache(kModel.n_layers, 1, 8, kModel.n_kv_heads, kModel.head_dim());
  autograd::NoGrad no_grad;
  CHECK_THROWS_WITH(model.forward(Tensor<std::int32_t>({1, 4}), 0, &cache, seg), doctest::Contains("no KV cache"));
}

TEST_CASE("packing in bf16 mixed precision: the packed loss and gradients equal the unpacked ones within bf16 bounds") {
  // bf16 forward and backward, fp32 master gradients (optim::Bf16Mixed); packed and unpacked windows round
  // differently (other shapes, other padding), so the bound is bf16's: the loss within 3% (the per-step bound of
  // mixed_precision_test.cpp against fp32), and the largest relative gradient difference no larger than bf16's
  // own from fp32 on the same unpacked windows (packing costs no more than the precision does)
  for (const bool one_batch : {false, true}) {
    CAPTURE(one_batch);
    const Files f = write_files();
    const auto [lu, gu] = loss_and_grads<bf16>(f.unpacked, "bf16_unpacked", false, one_batch);
    const auto [lp, gp] = loss_and_grads<bf16>(f.packed, "bf16_packed", false, one_batch);
    const auto [l32, g32] = loss_and_grads<float>(f.unpacked, "bf16_fp32", false, one_batch);
    REQUIRE(gu.size() == gp.size());
    double worst = 0, worst32 = 0;
    for (std::size_t i = 0; i < gu.size(); ++i) {
      worst = std::max(worst, relative(gp[i], gu[i]));
      worst32 = std::max(worst32, relative(gu[i], g32[i]));
    }
    MESSAGE("bf16 packed vs unpacked: loss ", lp, " vs ", lu, " (fp32 ", l32, "), largest relative gradient difference ",
            worst, " (bf16 unpacked vs fp32: ", worst32, ")");
    CHECK(std::abs(lp - lu) <= 0.03 * lu);
    CHECK(worst <= worst32);
  }
}

}  // namespace packing_test
