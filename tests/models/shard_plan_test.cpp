// SPDX-License-Identifier: MIT
// pmc plan per rank of data-parallel training with ZeRO-style sharding (PlanOptions::ranks and shard): the shard
// sizes are the model's own tensors cut per tensor (as PyTorch's FSDP2), hand-computed figures for a small model at
// 2 and 3 ranks (22688 parameters: not divisible by 3), 7B on 8 ranks ordered none > optimizer > gradients, and
// the refused inputs.
#include <doctest/doctest.h>

#include <string>

#include <pmc/backends/cpu/ops.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/models/llama/registry.hpp>

#include "support/test_configs.hpp"

// its own namespace: the test folder builds as one translation unit (PMC_UNITY_BUILD)
namespace shard_plan_test {

using namespace pmc;

namespace {

/// Every kind of bias, so the helper's tensor list covers them.
constexpr llama::Config kBiased{.dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 40,
                                .vocab_size = 53, .max_seq_len = 64, .norm_eps = 1e-5f, .rope_theta = 1e4f,
                                .qkv_bias = true, .o_bias = true, .mlp_bias = true};

template <class Params>
llama::ShardedParameters sharded_from_model(const Params& params, std::int64_t ranks) {
  llama::ShardedParameters s;
  for (const auto& p : params) {
    const std::int64_t n = p.var.value().numel(), gathered = (n + ranks - 1) / ranks * ranks;
    s.shard += (n + ranks - 1) / ranks;
    s.largest = std::max(s.largest, n);
    // the weights' all-gathers (ZeRO-3): block 0's tensors, and those outside every block
    if (p.name.find("layers.0.") != std::string::npos) s.block += gathered;
    else if (p.name.find("layers.") == std::string::npos) s.outside_blocks += gathered;
  }
  return s;
}

template <llama::Config C>
void check_against_model() {
  llama::Model<C, float> model;
  for (const std::int64_t ranks : {1, 2, 3, 5, 8, 1000}) {
    CAPTURE(ranks);
    const auto want = sharded_from_model(model.named_parameters(), ranks);
    const auto got = llama::sharded_trainable_parameters(C, std::nullopt, ranks);
    CHECK(got.shard == want.shard);
    CHECK(got.largest == want.largest);
    CHECK(got.block == want.block);
    CHECK(got.outside_blocks == want.outside_blocks);
    if (ranks == 1) CHECK(got.shard == C.parameters());
  }
  llama::LoraConfig lora;
  lora.rank = 3;
  lora.targets = llama::parse_lora_targets("q,v,o,down");
  model.add_lora(lora, 1);
  for (const std::int64_t ranks : {1, 2, 3, 7}) {
    CAPTURE(ranks);
    const auto want = sharded_from_model(model.lora_parameters(), ranks);
    const auto got = llama::sharded_trainable_parameters(C, lora, ranks);
    CHECK(got.shard == want.shard);
    CHECK(got.largest == want.largest);
    if (ranks == 1) CHECK(got.shard == llama::lora_parameter_count(C, lora));
  }
}

struct Expected {
  std::int64_t master, gradient, optimizer, communication;
};

llama::MemoryPlan plan_of(const llama::Config& c, llama::PlanDtype dtype, std::int64_t ranks, llama::PlanShard shard,
                          llama::PlanOptimizer optimizer = llama::PlanOptimizer::adamw) {
  llama::PlanOptions o;
  o.dtype = dtype;
  o.seq = 16;
  o.optimizer = optimizer;
  o.ranks = ranks;
  o.shard = shard;
  return llama::plan_memory(c, o);
}

void check_plan(const llama::Config& c, llama::PlanDtype dtype, std::int64_t ranks, llama::PlanShard shard,
                const Expected& e, llama::PlanOptimizer optimizer = llama::PlanOptimizer::adamw) {
  CAPTURE(ranks);
  CAPTURE(std::string(llama::plan_shard_name(shard)));
  CAPTURE(dtype == llama::PlanDtype::bf16 ? "bf16" : "fp32");
  const auto p = plan_of(c, dtype, ranks, shard, optimizer);
  const auto unsharded = plan_of(c, dtype, 1, llama::PlanShard::none, optimizer);
  CHECK(p.weight_bytes == unsharded.weight_bytes);  // the weights are replicated
  CHECK(p.activation_bytes == unsharded.activation_bytes);
  CHECK(p.master_bytes == e.master);
  CHECK(p.gradient_bytes == e.gradient);
  CHECK(p.optimizer_bytes == e.optimizer);
  CHECK(p.communication_bytes == e.communication);
  CHECK(p.total_bytes() == p.weight_bytes + e.master + e.gradient + e.optimizer +
                               std::max(p.activation_bytes, e.communication));
}

}  // namespace

TEST_CASE("shard plan: the shards are the model's own tensors cut per tensor (full training and LoRA)") {
  check_against_model<test::hf_test_train>();
  check_against_model<test::hf_test_gqa>();
  check_against_model<test::hf_test_mha_tied>();
  check_against_model<test::hf_test_odd>();
  check_against_model<kBiased>();
}

// hf_test_train (dim 32, 2 layers, 4 heads, 2 kv heads, ffn 64, vocab 64, untied): head_dim 8, q 32, kv 16.
// Its tensors: embedding and head 2048 each; per block two norms of 32, q and o 1024, k and v 512, gate, up and
// down 2048; the final norm 32. N = 2·2048 + 2·(2·32 + 2·1024 + 2·512 + 3·2048) + 32 = 22688 (not divisible by 3).
//   2 ranks: every tensor is even, S = 11344; the largest tensor 2048, c = 1024.
//   3 ranks: ceil(2048/3) = 683, ceil(1024/3) = 342, ceil(512/3) = 171, ceil(32/3) = 11; a block 3097, and
//            S = 683 + 2·3097 + 11 + 683 = 7571; c = 683.
TEST_CASE("shard plan: hand-computed per-rank bytes of a small model at 2 and 3 ranks") {
  using llama::PlanDtype;
  using llama::PlanShard;
  const auto& C = test::hf_test_train;
  constexpr std::int64_t N = 22688;
  REQUIRE(C.parameters() == N);
  CHECK(llama::sharded_trainable_parameters(C, std::nullopt, 2).shard == 11344);
  CHECK(llama::sharded_trainable_parameters(C, std::nullopt, 3).shard == 7571);
  CHECK(llama::sharded_trainable_parameters(C, std::nullopt, 3).largest == 2048);

  SUBCASE("fp32") {
    // none: gradients N·4, AdamW 2·N·4, at any number of ranks
    for (std::int64_t r : {1, 2, 3}) check_plan(C, PlanDtype::fp32, r, PlanShard::none, {0, 90752, 181504, 0});
    // optimizer: m and v 2·S·4; all-gather (c + R·c)·4
    check_plan(C, PlanDtype::fp32, 2, PlanShard::optimizer, {0, 90752, 90752, (1024 + 2 * 1024) * 4});
    check_plan(C, PlanDtype::fp32, 3, PlanShard::optimizer, {0, 90752, 60568, (683 + 3 * 683) * 4});
    // gradients: the model's N·4 plus shard gradients S·4; reduce-scatter (R·c + c)·4
    check_plan(C, PlanDtype::fp32, 2, PlanShard::gradients, {0, 90752 + 45376, 90752, 12288});
    check_plan(C, PlanDtype::fp32, 3, PlanShard::gradients, {0, 90752 + 30284, 60568, 10928});
    // SGD: one momentum, S·4
    check_plan(C, PlanDtype::fp32, 3, PlanShard::optimizer, {0, 90752, 30284, 10928}, llama::PlanOptimizer::sgd);
  }
  SUBCASE("bf16 with fp32 masters") {
    // none: masters N·4, gradients N·2 + N·4, AdamW 2·N·4
    for (std::int64_t r : {1, 2, 3})
      check_plan(C, PlanDtype::bf16, r, PlanShard::none, {90752, 45376 + 90752, 181504, 0});
    // optimizer: masters S·4, the fp32 accumulator stays whole; all-gather in bf16 (c + R·c)·2
    check_plan(C, PlanDtype::bf16, 2, PlanShard::optimizer, {45376, 45376 + 90752, 90752, (1024 + 2 * 1024) * 2});
    check_plan(C, PlanDtype::bf16, 3, PlanShard::optimizer, {30284, 45376 + 90752, 60568, (683 + 3 * 683) * 2});
    // gradients: the model's N·2 and fp32 shard gradients S·4; the reduce-scatter's fp32 buffers (R·c + c)·4
    check_plan(C, PlanDtype::bf16, 2, PlanShard::gradients, {45376, 45376 + 45376, 90752, (2 * 1024 + 1024) * 4});
    check_plan(C, PlanDtype::bf16, 3, PlanShard::gradients, {30284, 45376 + 30284, 60568, (3 * 683 + 683) * 4});
    // optimizer none: nothing to shard but the masters
    check_plan(C, PlanDtype::bf16, 3, PlanShard::gradients, {30284, 45376 + 30284, 0, 10928},
               llama::PlanOptimizer::none);
  }
  SUBCASE("full (ZeRO-3): the weights sharded too, whole only while gathered") {
    // outside the blocks: embedding, final norm, head; and two blocks (one computing, the next one's gather or the
    // last one's reduce-scatter in flight): two norms, q, k, v, o, gate, up, down; each as gathered, ceil(n / R)·R. 2 ranks: 2048 + 32 + 2048 = 4128 and 64 + 1024 + 512 + 512 + 1024 + 3·2048 = 9280.
    // 3 ranks: 2049 + 33 + 2049 = 4131 and 2·33 + 2·1026 + 2·513 + 3·2049 = 9291.
    auto full = [&](PlanDtype dtype, std::int64_t ranks) {
      llama::PlanOptions o;
      o.dtype = dtype;
      o.seq = 16;
      o.recompute = true;
      o.ranks = ranks;
      o.shard = PlanShard::full;
      return llama::plan_memory(C, o);
    };
    const auto f2 = full(PlanDtype::fp32, 2), f3 = full(PlanDtype::fp32, 3);
    CHECK(f2.weight_bytes == (4128 + 2 * 9280) * 4 + 11344 * 4);  // gathered, and the shard (the only copy)
    CHECK(f2.master_bytes == 0);
    CHECK(f2.gradient_bytes == (4128 + 2 * 9280) * 4 + 11344 * 4);  // whole while gathered, and the shard's
    CHECK(f2.optimizer_bytes == 2 * 11344 * 4);
    CHECK(f2.communication_bytes == (2 * 1024 + 1024) * 4);
    CHECK(f3.weight_bytes == (4131 + 2 * 9291) * 4 + 7571 * 4);
    CHECK(f3.gradient_bytes == (4131 + 2 * 9291) * 4 + 7571 * 4);
    CHECK(f3.optimizer_bytes == 2 * 7571 * 4);
    CHECK(f3.communication_bytes == (3 * 683 + 683) * 4);
    const auto b2 = full(PlanDtype::bf16, 2);
    CHECK(b2.weight_bytes == (4128 + 2 * 9280) * 2);  // gathered from the fp32 masters' chunks
    CHECK(b2.master_bytes == 11344 * 4);
    CHECK(b2.gradient_bytes == (4128 + 2 * 9280) * 2 + 11344 * 4);
    CHECK(b2.optimizer_bytes == 2 * 11344 * 4);
    CHECK(b2.communication_bytes == (2 * 1024 + 1024) * 4);
    // as training: recompute needed, not with LoRA
    llama::PlanOptions o;
    o.seq = 16;
    o.ranks = 2;
    o.shard = PlanShard::full;
    CHECK_THROWS_WITH_AS(llama::plan_memory(C, o), doctest::Contains("needs activation recompute"), Error);
    // LoRA: the adapters sharded and gathered (two blocks' at once), the frozen base whole
    o.recompute = true;
    o.dtype = PlanDtype::bf16;
    llama::LoraConfig lora;
    lora.rank = 4;
    lora.targets = llama::parse_lora_targets("q,v");
    o.lora = lora;
    const auto lf = llama::plan_memory(C, o);
    o.shard = PlanShard::none;
    o.ranks = 1;
    const auto ln = llama::plan_memory(C, o);
    // per block q's A 128 and B 128, v's A 128 and B 64 (448, all even); 896 adapters, S = 448
    CHECK(lf.weight_bytes == ln.weight_bytes - 896 * 2 + 2 * 448 * 2);
    CHECK(lf.master_bytes == 448 * 4);
    CHECK(lf.gradient_bytes == 2 * 448 * 2 + 448 * 4);
  }
  SUBCASE("one rank shards nothing, as the trainer runs it: the unsharded plan") {
    for (const auto shard : {PlanShard::optimizer, PlanShard::gradients})
      CHECK(plan_of(C, PlanDtype::bf16, 1, shard).total_bytes() == plan_of(C, PlanDtype::bf16, 1, PlanShard::none).total_bytes());
  }
}

// LoRA rank 4 on q and v of hf_test_train: per block q's A (4, 32) = 128 and B (32, 4) = 128, v's A 128 and
// B (16, 4) = 64; 896 adapters in all. 3 ranks: 43 + 43 + 43 + 22 = 151 a block, S = 302; the largest 128, c = 43.
TEST_CASE("shard plan: LoRA shards the adapters, the frozen base stays whole") {
  llama::PlanOptions o;
  o.dtype = llama::PlanDtype::bf16;
  o.seq = 16;
  llama::LoraConfig lora;
  lora.rank = 4;
  lora.targets = llama::parse_lora_targets("q,v");
  o.lora = lora;
  const auto none = llama::plan_memory(test::hf_test_train, o);
  REQUIRE(none.trainable == 896);
  o.ranks = 3;
  o.shard = llama::PlanShard::gradients;
  const auto p = llama::plan_memory(test::hf_test_train, o);
  CHECK(p.shard_trainable == 302);
  CHECK(p.weight_bytes == none.weight_bytes);
  CHECK(p.activation_bytes == none.activation_bytes);
  CHECK(p.master_bytes == 302 * 4);
  CHECK(p.gradient_bytes == 896 * 2 + 302 * 4);
  CHECK(p.optimizer_bytes == 2 * 302 * 4);
  CHECK(p.communication_bytes == (3 * 43 + 43) * 4);
  o.shard = llama::PlanShard::optimizer;
  const auto z1 = llama::plan_memory(test::hf_test_train, o);
  CHECK(z1.gradient_bytes == none.gradient_bytes);
  CHECK(z1.communication_bytes == (43 + 3 * 43) * 2);
}

TEST_CASE("shard plan: 7B bf16, 2048 tokens, recompute, 8 ranks: none > optimizer > gradients") {
  llama::PlanOptions o;
  o.dtype = llama::PlanDtype::bf16;
  o.seq = 2048;
  o.recompute = true;
  o.ranks = 8;
  const auto none = llama::plan_memory(llama::llama_7b, o);
  o.shard = llama::PlanShard::optimizer;
  const auto z1 = llama::plan_memory(llama::llama_7b, o);
  o.shard = llama::PlanShard::gradients;
  const auto z2 = llama::plan_memory(llama::llama_7b, o);
  o.shard = llama::PlanShard::full;
  const auto z3 = llama::plan_memory(llama::llama_7b, o);
  MESSAGE("7B on 8 ranks, GB per rank: none ", static_cast<double>(none.total_bytes()) / 1e9, ", optimizer ",
          static_cast<double>(z1.total_bytes()) / 1e9, ", gradients ", static_cast<double>(z2.total_bytes()) / 1e9,
          ", full ", static_cast<double>(z3.total_bytes()) / 1e9);
  CHECK(z1.total_bytes() < none.total_bytes());
  CHECK(z2.total_bytes() < z1.total_bytes());
  CHECK(z3.total_bytes() < z2.total_bytes());
  // ZeRO-3: bf16 weights whole only for the embedding, final norm and head (2·32000·4096 + 4096) and two blocks
  // (2·4096 + 4·4096² + 3·4096·11008 each); gradients of those, and the fp32 shard gradients
  const std::int64_t gathered = 2 * std::int64_t{32000} * 4096 + 4096 +
                                2 * (2 * 4096 + 4 * std::int64_t{4096} * 4096 + 3 * std::int64_t{4096} * 11008);
  CHECK(z3.weight_bytes == gathered * 2);
  CHECK(z3.gradient_bytes == gathered * 2 + llama::llama_7b.parameters() / 8 * 4);
  // every tensor of 7B divides by 8: a rank holds exactly an eighth of the masters and AdamW's state
  const std::int64_t N = llama::llama_7b.parameters();
  CHECK(z2.shard_trainable * 8 == N);
  CHECK(none.shard_trainable == N);
  CHECK(z1.master_bytes * 8 == none.master_bytes);
  CHECK(z1.optimizer_bytes * 8 == none.optimizer_bytes);
  CHECK(z1.gradient_bytes == none.gradient_bytes);
  CHECK(z2.gradient_bytes == N * 2 + N / 8 * 4);
  CHECK(z2.master_bytes == z1.master_bytes);
  CHECK(z2.optimizer_bytes == z1.optimizer_bytes);
  for (const auto* p : {&z1, &z2}) {
    CHECK(p->weight_bytes == none.weight_bytes);
    CHECK(p->activation_bytes == none.activation_bytes);
  }
  // the largest tensor is the embedding (and the head): 32000·4096 / 8 elements a chunk
  const std::int64_t chunk = std::int64_t{32000} * 4096 / 8;
  CHECK(none.communication_bytes == 0);
  CHECK(z1.communication_bytes == 9 * chunk * 2);
  CHECK(z2.communication_bytes == 9 * chunk * 4);
  // ZeRO-2 fits an 80 GB device; replicated training does not
  CHECK(z2.total_bytes() < 80'000'000'000);
  CHECK(none.total_bytes() > 80'000'000'000);
}

TEST_CASE("shard plan: refused inputs") {
  llama::PlanOptions o;
  o.seq = 16;
  o.ranks = 0;
  CHECK_THROWS_WITH_AS(llama::plan_memory(test::hf_test_train, o),
                       doctest::Contains("plan: ranks must be between 1 and 1048576, not 0"), Error);
  o.ranks = -3;
  CHECK_THROWS_WITH_AS(llama::plan_memory(test::hf_test_train, o), doctest::Contains("not -3"), Error);
  o.ranks = llama::kMaxPlanRanks + 1;
  CHECK_THROWS_WITH_AS(llama::plan_memory(test::hf_test_train, o), doctest::Contains("not 1048577"), Error);
  o.ranks = llama::kMaxPlanRanks;  // the bound itself is accepted
  o.shard = llama::PlanShard::gradients;
  CHECK_NOTHROW(llama::plan_memory(test::hf_test_train, o));
  o.ranks = 8;
  o.training = false;
  CHECK_THROWS_WITH_AS(llama::plan_memory(test::hf_test_train, o),
                       doctest::Contains("sharding (gradients) spreads training state over the ranks"), Error);
  o.shard = llama::PlanShard::none;  // inference on 8 replicas: each holds the whole plan
  CHECK(llama::plan_memory(test::hf_test_train, o).total_bytes() ==
        llama::plan_memory(test::hf_test_train, llama::PlanOptions{.seq = 16, .training = false}).total_bytes());
}

}  // namespace shard_plan_test
