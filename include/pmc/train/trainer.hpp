// SPDX-License-Identifier: MIT
// The training loop: AdamW with warmup + cosine decay, gradient accumulation and clipping over token
// windows, in fp32 or in bf16 with fp32 master weights, with optional activation recompute, over data-parallel
// ranks; an evaluation loss. A non-finite loss or gradient norm stops the run with an error (the last
// checkpoint stays the last good one). Beside it: the checkpoints (checkpoint.hpp), the metrics log
// (metrics.hpp), the run folder's lock (run_lock.hpp) and Ctrl-C / SIGTERM (stop_signals.hpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <pmc/dist/communicator.hpp>
#include <pmc/data/windows.hpp>
#include <pmc/io/safetensors.hpp>
#include <pmc/io/tensorboard.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/lora.hpp>
#include <pmc/optim/adamw.hpp>
#include <pmc/optim/grad_clip.hpp>
#include <pmc/optim/grad_accumulation.hpp>
#include <pmc/optim/lr_schedule.hpp>
#include <pmc/optim/precision.hpp>
#include <pmc/train/checkpoint.hpp>
#include <pmc/train/metrics.hpp>
#include <pmc/train/progress.hpp>
#include <pmc/train/run_lock.hpp>
#include <pmc/train/sharding.hpp>
#include <pmc/train/stop_signals.hpp>

namespace pmc::train {

struct TrainOptions {
  std::int64_t seq_len = 128;     // T
  std::int64_t batch = 8;         // sequences per optimizer step (across all micro-batches)
  std::int64_t grad_accum = 1;    // micro-batches per step; batch must be a multiple
  std::int64_t steps = 100;       // optimizer steps in all
  double lr = 3e-4;               // peak learning rate
  double min_lr = 0;              // floor of the cosine decay
  std::int64_t warmup = -1;       // warmup steps; -1: 3% of steps (PMC-LLaMA)
  double weight_decay = 0;        // applied to 2-D weights except the embedding
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip = 1.0;              // global gradient norm; 0 disables clipping
  data::Packing packing = data::Packing::plain;
  std::uint64_t seed = 0;
  std::int64_t save_every = 0;    // checkpoint every N steps (0: only at the end and on Ctrl-C / SIGTERM)
  std::int64_t keep_checkpoints = 2;
  std::int64_t eval_every = 0;    // evaluation loss every N steps (0: never)
  std::int64_t eval_batches = 4;
  std::filesystem::path out_dir;  // metrics.jsonl, checkpoints/, and the final model (HF layout)
  std::filesystem::path tensorboard_dir;  // when set, the metrics also as TensorBoard event files there
  bool progress = true;
  bool recompute = false;         // activation recompute per transformer block (Model::set_recompute)
  std::int64_t stop_after = -1;   // for tests: behave as if interrupted after this step
  // Data parallelism: this process's rank of a group (dist::Communicator; nullptr: a single process). Every
  // rank runs the same Trainer on the same files; each computes the gradient of its share of every batch
  // (`batch` is the global batch: a multiple of ranks × grad_accum), the gradients are summed over the ranks,
  // and every rank takes the same optimizer step. Rank 0 alone writes metrics, checkpoints and the model.
  dist::Communicator* comm = nullptr;
  // With several ranks: what they shard (sharding.hpp): nothing, the optimizer state and fp32 masters (ZeRO-1),
  // also the gradients (ZeRO-2), or also the weights (ZeRO-3: needs `recompute`; with LoRA, the adapters' weights:
  // the frozen base stays whole). Sharded runs
  // write one file pair per rank in each checkpoint.
  ShardLevel shard = ShardLevel::none;
  // Sharding the weights: run the collectives on a background thread, overlapping the computation (the next
  // block's all-gather, each block's reduce-scatter during backward); the same bits either way.
  bool overlap_communication = true;
  // LoRA (a model with Model::add_lora): only the adapters train, and the run ends by writing them as a PEFT
  // adapter folder in out_dir, naming this as the base model (adapter_config.json's base_model_name_or_path).
  std::string base_model;
};

/// A trainable model's parameters as the optimizers take them (optim::AdamW::step, clip_grad_norm): each one's
/// name, value and gradient buffer (allocated here if it was not, unless `allocate_grads` is false), all
/// updated in place; with LoRA only the adapters (PEFT's names), the base being frozen.
///   auto params = pmc::train::trainable_parameters(model);
///   model.zero_grad(); autograd::backward(model.loss(tokens, targets)); adamw.step(params, lr);
template <llama::Config C, class T, Device D>
std::vector<optim::Param<T, D>> trainable_parameters(const llama::Model<C, T, D>& model, bool allocate_grads = true) {
  std::vector<optim::Param<T, D>> params;
  for (const auto& p : model.parameters_to_train()) {
    PMC_CHECK(p.var.requires_grad(), "train: parameter ", p.name, " does not require grad (a model loaded for ",
              "inference; construct it trainable)");
    params.push_back(optim::Param<T, D>{p.name, p.var.value(),
                                        allocate_grads ? p.var.state()->grad_buffer() : p.var.grad(), 0});
  }
  return params;
}

/// Trains `model` on the windows of `train` (evaluating on `eval` when given).
///   pmc::train::Trainer trainer(model, train_tokens, &eval_tokens, options);
///   trainer.resume_if_present();       // continues from out_dir/checkpoints/latest, if any
///   trainer.run();
///
/// Rank 0 locks out_dir for its lifetime (RunLock: a second process training there fails at once) and removes
/// the unfinished checkpoint folders a killed run left.
///
/// The model's element type picks the precision policy: float (or double, for tests) trains in that type,
/// the optimizer updating the model's own weights (optim::Fp32); bf16 is PMC-LLaMA's mixed precision
/// (optim::Bf16Mixed): forward and backward in bf16, each micro-batch's bf16 gradients accumulated into
/// fp32 master gradients, clipping and AdamW on fp32 master weights with fp32 state, and the masters rounded
/// into the bf16 model after each step. Checkpoints hold the fp32 masters, so a bf16 run resumes exactly.
///
/// D is the model's device: on a GPU (with <pmc/cuda.hpp>, built by nvcc) batches are copied to it, the
/// optimizer runs there, and checkpoints and data-parallel sums go through the host.
///
/// Sharding the weights (ShardLevel::full over several ranks), the trainer frees the model's parameters and
/// installs its shards as the model's BlockHooks for its lifetime; run() ends (finished or stopped) with the
/// model whole again on every rank.
template <llama::Config C, class T = float, Device D = Cpu>
class Trainer {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bf16>,
                "Trainer: fp32 (fp64 for tests) or bf16 mixed precision; fp16 with loss scaling is not built into "
                "the trainer");

 public:
  /// bf16 mixed precision: fp32 masters beside the bf16 model.
  static constexpr bool kMixed = std::is_same_v<T, bf16>;
  /// The optimizer's type: the masters' (fp32) in mixed precision, else the model's.
  using master_t = std::conditional_t<kMixed, float, T>;
  static constexpr std::string_view precision = kMixed                      ? optim::Bf16Mixed::name
                                                : std::is_same_v<T, double> ? std::string_view("fp64")
                                                                            : optim::Fp32::name;

  ~Trainer() {
    if (shards_weights(o_)) model_.set_block_hooks(nullptr);
  }
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  Trainer(llama::Model<C, T, D>& model, const data::TokenFile& train, const data::TokenFile* eval, TrainOptions options)
      : model_(model), train_(train), eval_(eval), o_(std::move(options)),
        sampler_(train, o_.seq_len, o_.packing, o_.seed),
        schedule_{.peak = o_.lr, .floor = o_.min_lr,
                  .warmup_steps = o_.warmup >= 0 ? o_.warmup : optim::warmup_fraction(o_.steps),
                  .total_steps = o_.steps},
        model_params_(trainable_parameters(model, !shards_weights(o_))),
        // weight decay on 2-D weights except the embedding (norms and embedding in group 1, no decay); the
        // masters and shards take their parameters' groups
        groups_(optim::no_decay_for_norms_and_embeddings(model_params_, o_.weight_decay)),
        masters_(make_masters(model_params_, o_.shard != ShardLevel::none && ranks() > 1)),
        adamw_(optim::AdamWOptions{.beta1 = o_.beta1, .beta2 = o_.beta2, .eps = o_.eps}, groups_) {
    model_.set_recompute(o_.recompute);
    PMC_CHECK(o_.batch > 0 && o_.grad_accum > 0 && o_.batch % (o_.grad_accum * ranks()) == 0, "train: batch ",
              o_.batch, " must be a positive multiple of grad_accum ", o_.grad_accum,
              ranks() > 1 ? " times the " + std::to_string(ranks()) + " data-parallel ranks" : std::string());
    PMC_CHECK(o_.seq_len <= model.config().max_seq_len, "train: seq_len ", o_.seq_len,
              " exceeds the model's context ", model.config().max_seq_len);
    PMC_CHECK(o_.steps > 0, "train: steps must be positive");
    if (train.has_segments()) {  // packed windows (data/pack.hpp): one window per document, read from its start
      autograd::check_packing_supported<D>();
      PMC_CHECK(o_.packing == data::Packing::doc_start, "train: ", train.path().string(), " holds packed windows ",
                "(several examples each): they are read one per document (Packing::doc_start)");
    }
    PMC_CHECK(!o_.out_dir.empty(), "train: an output folder is needed");
    if (lead()) lock_.emplace(o_.out_dir);  // the other ranks use rank 0's folder
    io::ensure_directory(checkpoint_root());
    if (lead()) TrainingCheckpoint::remove_unfinished(checkpoint_root());
    // last, once nothing else can fail: sharding the weights frees the model's
    shards_ = make_shards(model_, model_params_, o_);
    if (shards_weights(o_)) {
      for (auto& p : model_params_) p = {p.name, Tensor<T, D>::wrap(nullptr, p.value.shape()), {}, p.group};
      model_.set_block_hooks(&*shards_);
    }
  }

  std::int64_t step() const { return step_; }
  const data::DataPosition& position() const { return pos_; }
  const std::vector<StepRecord>& history() const { return history_; }
  std::filesystem::path checkpoint_root() const { return o_.out_dir / "checkpoints"; }
  /// The data-parallel group's size and this process's rank in it (1 and 0 without a communicator).
  int ranks() const { return dist::size_of(o_.comm); }
  int rank() const { return dist::rank_of(o_.comm); }
  /// Rank 0, the one that writes metrics, checkpoints and the final model.
  bool lead() const { return rank() == 0; }
  /// What the ranks shard: TrainOptions::shard with several ranks, none with one.
  ShardLevel shard_level() const { return shards_ ? shards_->level() : ShardLevel::none; }
  /// The signal that stopped the last run() (SIGINT or SIGTERM), or 0 (it finished, or stopped at stop_after).
  int stop_signal() const { return stop_signal_; }

  /// Runs until `steps` updates are done (or Ctrl-C / SIGTERM / stop_after), checkpointing as configured.
  /// Returns true when training finished (the model is saved in out_dir), false when stopped early (a
  /// checkpoint was saved; stop_signal() says why). A non-finite loss or gradient norm throws pmc::Error
  /// naming the step, saving nothing: the last checkpoint stays the last good one.
  bool run() {
    const StopSignals signals;
    std::optional<MetricsWriter> metrics;
    if (lead()) metrics.emplace(o_.out_dir / "metrics.jsonl");
    std::optional<io::TensorBoardWriter> board;
    if (lead() && !o_.tensorboard_dir.empty()) {
      board.emplace(o_.tensorboard_dir);
      if (step_ > 0) board->restart_at(step_ + 1);  // a resumed run: TensorBoard drops what followed the checkpoint
    }
    ProgressBar bar("train", o_.steps, o_.progress && lead() ? stderr : nullptr);
    bar.start_at(step_);
    bool stopped = false;
    stop_signal_ = 0;
    if (shards_weights(o_) && shards_->whole()) {  // run() again: shard the weights again
      shards_->release_all();
      model_.set_block_hooks(&*shards_);
    }
    while (step_ < o_.steps) {
      const auto t0 = std::chrono::steady_clock::now();
      StepRecord rec = train_step();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rec.tokens_per_s = static_cast<double>(o_.batch * o_.seq_len) / secs;
      rec.epoch = pos_.epoch;
      // (sharded weights: every rank runs the evaluation's gathers; rank 0 records it)
      if ((lead() || shards_weights(o_)) && o_.eval_every > 0 && eval_ && step_ % o_.eval_every == 0)
        rec.eval_loss = eval_loss();
      history_.push_back(rec);
      if (lead()) metrics->write(rec);
      if (board) {
        std::vector<std::pair<std::string_view, double>> values{
            {"train/loss", rec.loss}, {"train/lr", rec.lr}, {"train/grad_norm", rec.grad_norm},
            {"train/tokens_per_s", rec.tokens_per_s}};
        if (rec.eval_loss) values.emplace_back("eval/loss", *rec.eval_loss);
        board->scalars(rec.step, values);
      }
      char detail[160];
      std::snprintf(detail, sizeof detail, "loss %.4f · lr %.2e · %.0f tok/s", rec.loss, rec.lr, rec.tokens_per_s);
      bar.update(step_, detail);
      // every rank stops at the same step: one rank's signal stops them all
      const int signal = StopSignals::received();
      if (any_rank(signal != 0 || (o_.stop_after >= 0 && step_ >= o_.stop_after))) {
        stopped = true;
        stop_signal_ = signal;
        break;
      }
      if (o_.save_every > 0 && step_ % o_.save_every == 0 && step_ < o_.steps) save_checkpoint();
    }
    save_checkpoint();
    if (shards_weights(o_)) {  // the model whole again on every rank, to save or use
      shards_->gather_all();
      model_.set_block_hooks(nullptr);
    }
    if (stopped) {
      bar.finish();
      if (lead())
        std::fprintf(stderr, "train: %s after step %lld; checkpoint saved in %s\n",
                     stop_signal_ == SIGTERM ? "terminated (SIGTERM)" : "interrupted", static_cast<long long>(step_),
                     checkpoint_root().string().c_str());
    } else if (lead()) {
      if (model_.lora()) llama::save_peft_adapter(model_, o_.out_dir, o_.base_model);
      else llama::save_hf(model_, o_.out_dir);
    }
    return !stopped;
  }

  /// One optimizer step on the next `batch` windows, split into `grad_accum` micro-batches. With several
  /// data-parallel ranks every rank draws the whole batch's windows (so all keep the same data position) and
  /// trains on every ranks()-th of them, from its rank on.
  StepRecord train_step() {
    std::vector<data::Window> mine;
    for (std::int64_t i = 0; i < o_.batch; ++i) {
      const data::Window w = sampler_.next(pos_);
      if (i % ranks() == rank()) mine.push_back(w);
    }
    const std::int64_t micro = static_cast<std::int64_t>(mine.size()) / o_.grad_accum;
    std::vector<data::Batch> batches;
    for (std::int64_t k = 0; k < o_.grad_accum; ++k) {
      const std::vector<data::Window> windows(mine.begin() + k * micro, mine.begin() + (k + 1) * micro);
      batches.push_back(data::make_batch(train_, windows, o_.seq_len));
    }
    return train_step_on(batches);
  }

  /// One optimizer step on the given micro-batches: accumulate, clip, AdamW at the schedule's lr. A
  /// non-finite loss or gradient norm (a diverged run) throws pmc::Error naming the step, before the update.
  StepRecord train_step_on(const std::vector<data::Batch>& batches) {
    const double loss = accumulate_gradients(batches);
    auto params = optimizer_params();
    double norm = 0;
    if (shards_) {  // the global norm: every rank's chunks
      norm = shards_->grad_norm();
      if (o_.clip > 0 && std::isfinite(norm)) optim::clip_grads_with_norm(params, o_.clip, norm);
    } else {
      norm = o_.clip > 0 ? optim::clip_grad_norm(params, o_.clip)
                         : optim::grad_norm(std::span<const optim::Param<master_t, D>>(params));
    }
    PMC_CHECK(std::isfinite(loss) && std::isfinite(norm), "train: step ", step_ + 1, " diverged: loss ", loss,
              ", gradient norm ", norm, "; stopped without saving it (the last checkpoint in ",
              checkpoint_root().string(), " is the last good state; resume with a lower learning rate)");
    const double lr = schedule_.lr(step_);
    adamw_.step(params, lr);
    if (shards_) shards_->gather_weights();  // every rank's weights = all ranks' updated chunks
    else if constexpr (kMixed) masters_->write_back();  // bf16 weights = round-to-nearest-even(fp32 masters)
    ++step_;
    return {.step = step_, .loss = loss, .lr = lr, .grad_norm = norm};
  }

  /// Zeroes the gradients and accumulates those of the micro-batches, each loss weighted by its share of
  /// all target tokens, so that the result is exactly the gradient of the whole batch's mean loss (into the
  /// model's grads in fp32; into the fp32 master grads, from each micro-batch's bf16 grads, in mixed
  /// precision). Returns that mean loss. With data-parallel ranks, `batches` are this rank's share: the
  /// shares are of the target tokens of all ranks, and gradients and loss are summed over the ranks.
  double accumulate_gradients(const std::vector<data::Batch>& batches) {
    std::int64_t local = 0;
    for (const auto& b : batches) local += b.target_count;
    const std::int64_t total = static_cast<std::int64_t>(sum_over_ranks(static_cast<double>(local)));
    PMC_CHECK(total > 0, "train: a batch with no target tokens (every target is -100)");
    double loss = 0;
    if (shards_weights(o_)) {
      // ZeRO-3: each block's gradients, times the micro-batch's share, reduce-scattered into this rank's chunks
      // as its backward ends (the hooks); the rest after the backward (by every rank for every micro-batch)
      shards_->zero_grads();
      for (std::size_t k = 0; k < batches.size(); ++k) {
        const auto& b = batches[k];
        const double share = static_cast<double>(b.target_count) / static_cast<double>(total);
        if (b.target_count == 0) {
          shards_->idle_micro_batch(model_.config().n_layers);
          continue;
        }
        model_.set_dropout_key(dropout_key(k));
        shards_->begin_micro_batch(share);
        double value = 0;
        auto l = model_.loss(to_device<D>(b.tokens), to_device<D>(b.targets), nullptr, &value, b.segments);
        loss += value * share;
        autograd::backward(l);
        shards_->end_micro_batch();
        model_.set_dropout_key(std::nullopt);
      }
    } else if constexpr (kMixed) {
      // each micro-batch's bf16 gradients into fp32 ones: accumulated whole (GradAccumulator), or, sharding the
      // gradients, reduce-scattered into this rank's chunks (by every rank for every micro-batch: a collective)
      const bool per_micro_batch = shard_level() == ShardLevel::gradients;
      optim::GradAccumulator<float, D> acc(per_micro_batch ? std::span<optim::Param<float, D>>()
                                           : shards_      ? shards_->accumulators()
                                                          : masters_->params());
      if (per_micro_batch) shards_->zero_grads();
      else acc.begin(total);
      for (std::size_t k = 0; k < batches.size(); ++k) {
        const auto& b = batches[k];
        const double share = static_cast<double>(b.target_count) / static_cast<double>(total);
        if (b.target_count > 0) {
          model_.set_dropout_key(dropout_key(k));
          for (auto& p : model_params_) pmc::zero(p.grad);
          double value = 0;
          auto l = model_.loss(to_device<D>(b.tokens), to_device<D>(b.targets), nullptr, &value, b.segments);
          loss += value * share;
          autograd::backward(l);
          model_.set_dropout_key(std::nullopt);
          if (!per_micro_batch) acc.add(model_params_, b.target_count);
        } else if (per_micro_batch) {
          for (auto& p : model_params_) pmc::zero(p.grad);  // nothing of this rank in the micro-batch's sum
        }
        if (per_micro_batch) shards_->reduce_micro_batch(share);
      }
      if (!per_micro_batch) acc.finish_share(local);
    } else {
      for (auto& p : model_params_) pmc::zero(p.grad);
      for (std::size_t k = 0; k < batches.size(); ++k) {
        const auto& b = batches[k];
        if (b.target_count == 0) continue;
        model_.set_dropout_key(dropout_key(k));
        const double share = static_cast<double>(b.target_count) / static_cast<double>(total);
        double value = 0;
        auto l = model_.loss(to_device<D>(b.tokens), to_device<D>(b.targets), nullptr, &value, b.segments);
        loss += value * share;
        autograd::backward(autograd::scale(l, static_cast<float>(share)));
        model_.set_dropout_key(std::nullopt);
      }
    }
    if (ranks() > 1) {
      if (shards_) {
        shards_->reduce_gradients();
      } else {
        std::vector<Tensor<master_t, D>> grads;
        for (const auto& p : optimizer_params()) grads.push_back(p.grad);
        dist::allreduce_sum<master_t, D>(o_.comm, grads);
      }
      loss = sum_over_ranks(loss);
    }
    return loss;
  }

  /// What the optimizer updates: the model's parameters, or the fp32 masters in mixed precision.
  /// Sharded (shard_level() other than none): this rank's chunks of them.
  std::span<const optim::Param<master_t, D>> parameters() const {
    if (shards_) return shards_->params();
    if constexpr (kMixed) return masters_->params();
    else return model_params_;
  }

  /// Mean loss over `eval_batches` fixed windows of the evaluation file (the first ones of epoch 0). With the
  /// weights sharded, during run() every rank must call it (collectives); after run() the model is whole.
  double eval_loss() {
    PMC_CHECK(eval_ != nullptr, "train: no evaluation data");
    autograd::NoGrad no_grad;
    // sharded weights (not after run(), which ends with them whole): the blocks are gathered one by one (the hooks)
    const bool sharded = shards_weights(o_) && !shards_->whole();
    if (sharded) shards_->gather_outside_blocks();
    data::WindowSampler s(*eval_, o_.seq_len, data::Packing::doc_start, 0);  // any document length works
    data::DataPosition p{};
    double sum = 0;
    std::int64_t count = 0;
    const std::int64_t n = std::min<std::int64_t>(o_.eval_batches * o_.batch, s.windows_per_epoch());
    for (std::int64_t i = 0; i < n; i += o_.batch) {
      std::vector<data::Window> w;
      for (std::int64_t b = 0; b < o_.batch && i + b < n; ++b) w.push_back(s.next(p));
      auto batch = data::make_batch(*eval_, w, o_.seq_len);
      std::int64_t c = 0;
      double value = 0;
      model_.loss(to_device<D>(batch.tokens), to_device<D>(batch.targets), &c, &value, batch.segments);
      sum += value * static_cast<double>(c);
      count += c;
    }
    if (sharded) shards_->release_outside_blocks();
    return count ? sum / static_cast<double>(count) : 0.0;
  }

  /// Writes checkpoints/step_N/ (TrainingCheckpoint: weights, optimizer state, trainer state, the model's
  /// config.json, manifest) and points checkpoints/latest at it; keeps the newest `keep_checkpoints`. Rank 0
  /// writes; the others, whose state is the same, do nothing. Sharded, every rank writes its chunks
  /// (TrainingCheckpoint::save_sharded). config.json (architecture, bos / eos ids; "float32": the weights saved
  /// are fp32, the masters in mixed precision) and trainer.json's "rope_layout" are what writing the weights
  /// whole needs without the model the run started from (consolidate.hpp).
  void save_checkpoint() {
    if (!lead() && !shards_) return;
    std::vector<io::SafetensorsEntry> weights, state;
    for (const auto& p : parameters())
      weights.push_back(io::tensor_entry(p.name, pmc::to_host(p.value)));  // the fp32 masters in mixed precision
    const auto sd = adamw_.state_dict();
    for (const auto& [key, t] : sd.tensors) state.push_back(io::tensor_entry(key, pmc::to_host(t)));
    TrainerState ts;  // (member by member: nvcc's host pass rejects designated initializers in an argument)
    ts.step = step_;
    ts.optimizer_step = sd.step;
    ts.position = pos_;
    ts.seed = o_.seed;
    ts.config = run_description();
    ts.precision = std::string(precision);
    ts.param_steps = sd.steps;
    ts.rope_layout = rope_layout_name();
    const std::string config_json = io::to_json(llama::hf_config_of(model_, "float32")).dump(2) + "\n";
    if (shards_) TrainingCheckpoint::save_sharded(checkpoint_root(), ts, o_.comm, weights, state, config_json);
    else TrainingCheckpoint::save(checkpoint_root(), ts, weights, state, config_json);
    if (lead()) TrainingCheckpoint::rotate(checkpoint_root(), o_.keep_checkpoints);
  }

  /// What this run's checkpoints hold, to validate one before resuming from it.
  CheckpointSpec checkpoint_spec() const {
    CheckpointSpec spec{.config = run_description(), .precision = std::string(precision),
                        .windows_per_epoch = sampler_.windows_per_epoch(), .rope_layout = rope_layout_name()};
    for (const auto& p : model_params_) {  // whole shapes (the masters' are the model's)
      spec.weights.emplace(p.name, p.value.shape());
      spec.optimizer.emplace("m." + p.name, p.value.shape());  // AdamW's state_dict keys (optim::OptimizerState)
      spec.optimizer.emplace("v." + p.name, p.value.shape());
    }
    return spec;
  }

  /// Restores model, optimizer, step and data position from checkpoints/latest under `dir` (default: this
  /// run's out_dir), and drops the metrics lines past the restored step. Returns false if there is none. The
  /// checkpoint (manifest checksums, trainer state, tensor names and shapes) and the metrics file are checked
  /// first: a bad one is an error naming the file that leaves the trainer and the run folder as they were.
  bool resume_if_present(std::optional<std::filesystem::path> dir = std::nullopt) {
    const auto ckpt = TrainingCheckpoint::open_latest((dir ? *dir : o_.out_dir) / "checkpoints");
    if (!ckpt) return false;
    ckpt->validate(checkpoint_spec());
    const TrainerState& s = ckpt->state();
    const auto metrics_path = o_.out_dir / "metrics.jsonl";
    std::vector<StepRecord> history = lead() ? metrics_until(metrics_path, s.step) : std::vector<StepRecord>{};
    // nothing below fails on a validated checkpoint. Each optimizer parameter (a whole one, or this rank's
    // chunk) is read by its range of the flattened tensor, from the checkpoint's shards however many they are.
    using Part = TrainingCheckpoint::Part;
    optim::OptimizerState<master_t, D> sd{.step = s.optimizer_step, .steps = {}};
    const auto params = parameters();
    for (std::size_t j = 0; j < params.size(); ++j) {
      const auto& p = params[j];
      const std::int64_t n = model_params_[shards_ ? shards_->parameter_of(j) : j].value.numel();
      const dist::ShardRange r = shards_ ? shards_->range_of(j) : dist::ShardRange{0, n, n};
      const auto flat = [](const Tensor<master_t, D>& t) { return t.reshape(Shape{t.numel()}); };
      ckpt->read_range(Part::weights, p.name, n, r.begin, r.end, flat(p.value));
      for (const char* prefix : {"m.", "v."}) {
        Tensor<master_t, D> t(p.value.shape());
        ckpt->read_range(Part::optimizer, prefix + p.name, n, r.begin, r.end, flat(t));
        sd.tensors.emplace(prefix + p.name, std::move(t));
      }
      sd.steps[p.name] = s.param_steps.at(p.name);
    }
    if (shards_) shards_->gather_weights();
    else if constexpr (kMixed) masters_->write_back();
    adamw_.load_state_dict(sd, parameters());
    step_ = s.step;
    pos_ = s.position;
    history_ = std::move(history);
    if (lead() && std::filesystem::exists(metrics_path)) write_metrics(metrics_path, history_);
    return true;
  }

 private:
  /// The key of micro-batch k's dropout masks at this step (LoRA dropout): a function of the seed, the step, k
  /// and the rank only, so a rerun or a resumed run draws the same masks.
  std::uint64_t dropout_key(std::size_t k) const {
    std::uint64_t h = o_.seed * 0x9e3779b97f4a7c15ull;
    for (std::uint64_t v : {static_cast<std::uint64_t>(step_), static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(rank())})
      h = (h ^ (v + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2))) * 0xff51afd7ed558ccdull;
    return h;
  }

  /// The RoPE layout of the model's q and k rows, as trainer.json records it.
  std::string rope_layout_name() const {
    return model_.rope_layout() == ops::RopeLayout::interleaved ? "interleaved" : "rotate_half";
  }

  /// The architecture (and LoRA settings) a checkpoint of this run records and a resume must match.
  std::string run_description() const {
    std::string d = llama::describe(model_.config());
    if (const auto& l = model_.lora()) {
      d += std::string(TrainerState::kLoraMarker) + std::to_string(l->rank) + ", alpha " + std::to_string(l->alpha) +
           ", dropout " + std::to_string(l->dropout) + (l->rslora ? ", rsLoRA" : "") + ", targets";
      for (const auto& m : llama::lora_target_modules(*l)) d += " " + m;
    }
    return d;
  }

  /// x summed over the data-parallel ranks (x itself on one rank).
  double sum_over_ranks(double x) {
    if (ranks() > 1) o_.comm->allreduce_sum(std::span<double>(&x, 1));
    return x;
  }
  /// Whether `flag` is set on any rank.
  bool any_rank(bool flag) { return sum_over_ranks(flag ? 1.0 : 0.0) > 0; }

  std::span<optim::Param<master_t, D>> optimizer_params() {
    if (shards_) return shards_->params();
    if constexpr (kMixed) return masters_->params();
    else return model_params_;
  }

  // fp32 masters of the whole model: bf16 mixed precision, unsharded (sharded, each rank has its chunks')
  using Masters = std::conditional_t<kMixed, std::optional<optim::MasterWeights<optim::Bf16Mixed, D>>, std::monostate>;
  static Masters make_masters(const std::vector<optim::Param<T, D>>& model_params, bool sharded) {
    if constexpr (kMixed) {
      if (sharded) return std::nullopt;
      return Masters(std::in_place, model_params);
    } else {
      return {};
    }
  }
  /// Whether the ranks shard the weights themselves (ZeRO-3).
  static bool shards_weights(const TrainOptions& o) {
    return o.shard == ShardLevel::full && dist::size_of(o.comm) > 1;
  }
  static std::optional<ZeroShards<T, D>> make_shards(const llama::Model<C, T, D>& model,
                                                     const std::vector<optim::Param<T, D>>& model_params,
                                                     const TrainOptions& o) {
    if (o.shard == ShardLevel::none || dist::size_of(o.comm) == 1) return std::nullopt;
    std::vector<autograd::Var<T, D>> vars;
    std::vector<int> blocks;
    if (o.shard == ShardLevel::full) {
      PMC_CHECK(o.recompute, "train: sharding the weights (--shard full) needs activation recompute (--recompute): ",
                "a block's weights are gathered again for its backward instead of being kept");
      std::map<const void*, int> block_of;  // each block parameter's Var state
      for (int l = 0; l < model.config().n_layers; ++l) {
        const auto& b = model.blocks()[static_cast<std::size_t>(l)];
        for (const autograd::Var<T, D>* v : {&b.attn_norm, &b.wq, &b.wk, &b.wv, &b.wo, &b.ffn_norm, &b.w_gate, &b.w_up,
                                   &b.w_down, &b.bq, &b.bk, &b.bv, &b.bo, &b.b_gate, &b.b_up, &b.b_down})
          if (v->defined()) block_of[v->state().get()] = l;
        for (const auto& adapter : b.lora)  // LoRA: the adapters are what trains, and what is sharded
          if (adapter.defined()) block_of[adapter.a.state().get()] = l, block_of[adapter.b.state().get()] = l;
      }
      for (const auto& p : model.parameters_to_train()) {
        vars.push_back(p.var);
        const auto it = block_of.find(p.var.state().get());
        blocks.push_back(it == block_of.end() ? -1 : it->second);
      }
    }
    return std::optional<ZeroShards<T, D>>(std::in_place, std::span<const optim::Param<T, D>>(model_params), o.comm,
                                           o.shard, std::move(vars), std::move(blocks), o.overlap_communication);
  }

  llama::Model<C, T, D>& model_;
  const data::TokenFile& train_;
  const data::TokenFile* eval_;
  TrainOptions o_;
  std::optional<RunLock> lock_;  // rank 0's, of out_dir
  data::WindowSampler sampler_;
  optim::WarmupCosine schedule_;
  std::vector<optim::Param<T, D>> model_params_;  // before the members built from it
  std::vector<optim::ParamGroup> groups_;           // AdamW's groups, assigned to model_params_
  std::optional<ZeroShards<T, D>> shards_;          // this rank's chunks (sharded runs only)
  Masters masters_;                                 // fp32 masters (bf16 mixed precision, unsharded, only)
  optim::AdamW<master_t, D> adamw_;
  std::int64_t step_ = 0;
  data::DataPosition pos_{};
  std::vector<StepRecord> history_;
  int stop_signal_ = 0;
};

}  // namespace pmc::train
