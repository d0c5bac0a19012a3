// SPDX-License-Identifier: MIT
// Model<Config, T, D>: the LLaMA decoder (embedding, L pre-norm blocks of grouped-query attention with RoPE
// and a SwiGLU MLP, final RMSNorm, output head) on the autograd of pmc/autograd, with a KV cache for decoding.
#pragma once

#include <cmath>
#include <cstdint>
#include <array>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <pmc/autograd/functions.hpp>
#include <pmc/autograd/recompute.hpp>
#include <pmc/models/llama/config.hpp>
#include <pmc/models/llama/lora_config.hpp>

namespace pmc::llama {

using autograd::Var;

/// The keys and values of every layer for positions [0, length): (B, S_max, Hkv, Dh) per layer.
template <class T, Device D>
struct KvCache {
  std::vector<Tensor<T, D>> k, v;
  std::int64_t length = 0;  // positions filled

  KvCache() = default;
  KvCache(int n_layers, std::int64_t batch, std::int64_t max_len, int kv_heads, int head_dim) {
    for (int l = 0; l < n_layers; ++l) {
      k.emplace_back(Shape{batch, max_len, kv_heads, head_dim});
      v.emplace_back(Shape{batch, max_len, kv_heads, head_dim});
    }
  }
  std::int64_t capacity() const { return k.empty() ? 0 : k[0].size(1); }
};

/// The special token ids a checkpoint's config.json names (not part of the architecture, but carried from the file
/// a model was loaded from to the folder it is saved as): bos (-1: none) and the eos ids (several for Llama-3).
struct SpecialTokenIds {
  int bos = 1;
  std::vector<int> eos{2};
  friend bool operator==(const SpecialTokenIds&, const SpecialTokenIds&) = default;
};

/// A named parameter (Hugging Face's name, e.g. "model.layers.0.self_attn.q_proj.weight").
template <class T, Device D>
struct NamedParameter {
  std::string name;
  Var<T, D> var;
};

/// One projection's LoRA adapter: A (rank, in) and B (out, rank); both undefined where the projection has none.
template <class T, Device D>
struct LoraAdapter {
  Var<T, D> a;
  Var<T, D> b;
  bool defined() const { return a.defined(); }
};

/// What a trainer that shards the weights over data-parallel ranks (ZeRO-3, train/sharding.hpp) does around
/// each transformer block: the block's parameters hold no memory between uses; `gather(l)` gives them their
/// whole values just before block l runs (its forward, and its recomputed forward during backward);
/// `release(l)` frees them after a forward without grad; `backward_done(l)` runs when block l's backward is
/// complete (its parameters' gradients are final for this micro-batch). The model calls them in the same order
/// on every rank, so they may run collectives. Training with hooks needs activation recompute (set_recompute):
/// the first forward then keeps no reference to a block's weights.
struct BlockHooks {
  virtual ~BlockHooks() = default;
  virtual void gather(int block) = 0;
  virtual void release(int block) = 0;
  virtual void backward_done(int block) = 0;
};

/// A LLaMA model. Its architecture is fixed at compile time (C a named Config: static sizes, checked by the
/// compiler) or given at run time (C = dynamic: the Config is a member, checked when the model is made); both
/// run the same code, a static config only lets the compiler fold the sizes.
///   pmc::llama::Model<pmc::llama::tiny, float> model;          // zeros; init_random or load weights
///   pmc::llama::Model<pmc::llama::dynamic, float> any(read_architecture(dir));
///   model.init_random(42);
///   auto loss = model.loss(tokens, targets);                    // tokens, targets: (B, T) int32
///   pmc::autograd::backward(loss);
template <Config C, class T = float, Device D = Cpu>
  requires(is_dynamic(C) || is_valid(C))
class Model {
 public:
  static constexpr bool kStaticConfig = !is_dynamic(C);
  using value_type = T;
  using device_type = D;

  struct Block {
    Var<T, D> attn_norm;  // (D)
    Var<T, D> wq;         // (H·Dh, D)
    Var<T, D> wk;         // (Hkv·Dh, D)
    Var<T, D> wv;         // (Hkv·Dh, D)
    Var<T, D> wo;         // (D, H·Dh)
    Var<T, D> ffn_norm;   // (D)
    Var<T, D> w_gate;     // (F, D)
    Var<T, D> w_up;       // (F, D)
    Var<T, D> w_down;     // (D, F)
    // biases, defined only when the config has them (qkv_bias, o_bias, mlp_bias)
    Var<T, D> bq, bk, bv;           // (H·Dh), (Hkv·Dh), (Hkv·Dh)
    Var<T, D> bo;                   // (D)
    Var<T, D> b_gate, b_up, b_down; // (F), (F), (D)
    // LoRA adapters by Projection (add_lora), undefined for the projections it does not target
    std::array<LoraAdapter<T, D>, kProjections> lora{};
    // the frozen projection weights held quantized (quantize_base), whose Vars then keep only their shapes
    std::array<std::optional<ops::QuantizedMatrix<D>>, kProjections> quantized{};

    const Var<T, D>& weight(Projection p) const {
      const std::array<const Var<T, D>*, kProjections> w{&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down};
      return *w[static_cast<std::size_t>(p)];
    }
    const Var<T, D>& bias(Projection p) const {
      const std::array<const Var<T, D>*, kProjections> b{&bq, &bk, &bv, &bo, &b_gate, &b_up, &b_down};
      return *b[static_cast<std::size_t>(p)];
    }
    /// Whether training this block computes a gradient of one of its parameters (its weights or its adapters).
    bool trains() const {
      if (wq.requires_grad()) return true;
      for (const auto& a : lora)
        if (a.defined() && a.a.requires_grad()) return true;
      return false;
    }
  };

  /// All parameters allocated (zero), requiring grad when `trainable`.
  explicit Model(bool trainable = true)
    requires(kStaticConfig)
      : Model(C, trainable, true) {}
  /// The same for a run-time architecture (a pmc::Error naming the broken rule when `config` is invalid; for a
  /// static C, `config` must equal C).
  explicit Model(const Config& config, bool trainable = true) : Model(config, trainable, true) {}

  /// Parameters with their shapes but no memory, for a loader that hands over its own tensors (a
  /// memory-mapped checkpoint), so that the weights are never held twice.
  static Model unallocated(bool trainable = true)
    requires(kStaticConfig)
  {
    return Model(C, trainable, false);
  }
  static Model unallocated(const Config& config, bool trainable = true) { return Model(config, trainable, false); }

  /// The architecture: C itself when static (so its sizes are compile-time constants), else the member.
  constexpr Config config() const {
    if constexpr (kStaticConfig) return C;
    else return config_;
  }

 private:
  Model(const Config& config, bool trainable, bool allocate) {
    if constexpr (kStaticConfig) {
      PMC_CHECK(config == C, "Model: the architecture (", describe(config), ") is not the model's compiled one (",
                describe(C), ")");
    } else {
      check_config(config, "Model");
      config_ = config;
    }
    const Config c = this->config();
    auto param = [&](Shape s) {
      return Var<T, D>(allocate ? Tensor<T, D>(s) : Tensor<T, D>::wrap(nullptr, s), trainable);
    };
    embed_ = param({c.vocab_size, c.dim});
    blocks_.reserve(static_cast<std::size_t>(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
      Block b{param({c.dim}), param({c.q_dim(), c.dim}), param({c.kv_dim(), c.dim}),
              param({c.kv_dim(), c.dim}), param({c.dim, c.q_dim()}), param({c.dim}),
              param({c.ffn_dim, c.dim}), param({c.ffn_dim, c.dim}), param({c.dim, c.ffn_dim})};
      if (c.qkv_bias) b.bq = param({c.q_dim()}), b.bk = param({c.kv_dim()}), b.bv = param({c.kv_dim()});
      if (c.o_bias) b.bo = param({c.dim});
      if (c.mlp_bias) b.b_gate = param({c.ffn_dim}), b.b_up = param({c.ffn_dim}), b.b_down = param({c.dim});
      blocks_.push_back(std::move(b));
    }
    final_norm_ = param({c.dim});
    if (!c.tied_embeddings) head_ = param({c.vocab_size, c.dim});
  }

 public:

  /// Every parameter with its Hugging Face name, in checkpoint order.
  std::vector<NamedParameter<T, D>> named_parameters() const {
    std::vector<NamedParameter<T, D>> out;
    out.push_back({"model.embed_tokens.weight", embed_});
    for (int l = 0; l < config().n_layers; ++l) {
      const auto& b = blocks_[static_cast<std::size_t>(l)];
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto with_bias = [&](const std::string& proj, const Var<T, D>& w, const Var<T, D>& bias) {
        out.push_back({p + proj + ".weight", w});
        if (bias.defined()) out.push_back({p + proj + ".bias", bias});
      };
      out.push_back({p + "input_layernorm.weight", b.attn_norm});
      with_bias("self_attn.q_proj", b.wq, b.bq);
      with_bias("self_attn.k_proj", b.wk, b.bk);
      with_bias("self_attn.v_proj", b.wv, b.bv);
      with_bias("self_attn.o_proj", b.wo, b.bo);
      out.push_back({p + "post_attention_layernorm.weight", b.ffn_norm});
      with_bias("mlp.gate_proj", b.w_gate, b.b_gate);
      with_bias("mlp.up_proj", b.w_up, b.b_up);
      with_bias("mlp.down_proj", b.w_down, b.b_down);
    }
    out.push_back({"model.norm.weight", final_norm_});
    if (!config().tied_embeddings) out.push_back({"lm_head.weight", head_});
    return out;
  }

  /// Normal(0, std) weights (scaled by 1/sqrt(2L) on the residual projections, as GPT-2/llm.c), unit norms,
  /// zero biases.
  /// Drawn on the host, so a model on any device gets the same weights for the same seed.
  void init_random(std::uint64_t seed, float std = 0.02f) {
    std::mt19937_64 rng(seed);
    for (auto& [name, var] : named_parameters()) {
      Tensor<T, Cpu> t(var.shape());
      if (name.ends_with(".bias")) {
        t.fill(T(0));
      } else if (t.rank() == 1) {
        t.fill(T(1));
      } else {
        const bool residual = name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight");
        std::normal_distribution<float> dist(0.f, residual ? std / std::sqrt(2.f * static_cast<float>(config().n_layers)) : std);
        for (auto& x : t.span()) x = static_cast<T>(dist(rng));
      }
      pmc::copy(to_device<D>(t), var.value());
    }
  }

  /// Copies the weights of a host model (same config, element type U, converted to T) into this model's
  /// own tensors: how a model on the GPU gets a checkpoint loaded on the host.
  template <class U>
  void copy_weights_from(const Model<C, U, Cpu>& host) {
    PMC_CHECK(host.config() == config(), "Model::copy_weights_from: the host model's architecture (",
              describe(host.config()), ") is not this one's (", describe(config()), ")");
    const auto src = host.named_parameters();
    const auto dst = named_parameters();
    for (std::size_t i = 0; i < src.size(); ++i) {
      const auto& v = src[i].var.value();
      Tensor<T, Cpu> converted;
      if constexpr (std::is_same_v<T, U>) converted = v.contiguous();
      else converted = v.template to<T>();
      if (!dst[i].var.value().data()) dst[i].var.set_value(Tensor<T, D>(v.shape()));
      pmc::copy(to_device<D>(converted), dst[i].var.value());
    }
    rope_layout_ = host.rope_layout();
    special_tokens_ = host.special_tokens();
  }

  /// A host copy of this model's weights (element type U), e.g. to save a model trained on the GPU.
  template <class U = T>
  Model<C, U, Cpu> to_host(bool trainable = false) const {
    auto out = Model<C, U, Cpu>::unallocated(config(), trainable);
    const auto src = named_parameters();
    const auto dst = out.named_parameters();
    for (std::size_t i = 0; i < src.size(); ++i) {
      if constexpr (std::is_same_v<T, U>) dst[i].var.set_value(pmc::host_copy(src[i].var.value()));
      else dst[i].var.set_value(pmc::to_host(src[i].var.value()).template to<U>());
    }
    out.set_rope_layout(rope_layout_);
    out.set_special_tokens(special_tokens_);
    return out;
  }

  ops::RopeLayout rope_layout() const { return rope_layout_; }
  /// Meta's interleaved pairs (llama2.c / original checkpoints) or HF's rotate-half (HF checkpoints).
  void set_rope_layout(ops::RopeLayout layout) { rope_layout_ = layout; }
  /// The bos/eos ids of the checkpoint this model was loaded from (LLaMA's 1 and 2 for a fresh one); save_hf
  /// writes them back.
  const SpecialTokenIds& special_tokens() const { return special_tokens_; }
  void set_special_tokens(SpecialTokenIds ids) { special_tokens_ = std::move(ids); }

  const Var<T, D>& embedding() const { return embed_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  const Var<T, D>& final_norm() const { return final_norm_; }
  /// The output head (the embedding when tied). Its value is empty while the head is held quantized.
  const Var<T, D>& head() const { return config().tied_embeddings ? embed_ : head_; }
  /// The output head in llama.cpp's blocks when quantize_base stored the base in q8_0 / q4_0 (an untied head whose
  /// width is a multiple of 32: q8_0, or a llama.cpp file's own q8_0 / q4_0 output.weight), else nullopt.
  const std::optional<ops::QuantizedMatrix<D>>& quantized_head() const { return head_quantized_; }

  /// Logits (B·T, V) for tokens (B, T) at positions pos0..pos0+T-1. With a cache, keys and values are
  /// written into it at those positions and attention reads positions [0, pos0 + T) from it.
  /// Packed windows (segments, ops/segments.hpp; pos0 = 0, no cache): several examples per row, each attending
  /// only within itself, at positions restarting at its start (a device without packing refuses them).
  Var<T, D> forward(const Tensor<std::int32_t, D>& tokens, std::int64_t pos0 = 0, KvCache<T, D>* cache = nullptr,
                    std::shared_ptr<const ops::Segments> segments = nullptr) const {
    return logits(hidden_states(tokens, pos0, cache, std::move(segments)));  // (N, V)
  }

  /// The head's logits (N, V) of final hidden states x (N, D) (hidden_states' output): x · headᵀ, from the q8_0 /
  /// q4_0 blocks when the head is held quantized. Generation applies it to the last position only.
  Var<T, D> logits(const Var<T, D>& x) const {
    if (head_quantized_) return autograd::linear(x, *head_quantized_);
    return autograd::linear(x, head());
  }

  /// Final hidden states (B·T, D), after the last norm.
  Var<T, D> hidden_states(const Tensor<std::int32_t, D>& tokens, std::int64_t pos0 = 0,
                          KvCache<T, D>* cache = nullptr, std::shared_ptr<const ops::Segments> segments = nullptr) const {
    PMC_CHECK(tokens.rank() == 2, "Model::forward: tokens must be (B, T), got ", tokens.shape().str());
    const std::int64_t B = tokens.size(0), Tn = tokens.size(1);
    PMC_CHECK(pos0 + Tn <= config().max_seq_len, "Model::forward: positions up to ", pos0 + Tn,
              " exceed the config's max_seq_len ", config().max_seq_len);
    if (cache) {
      PMC_CHECK(cache->capacity() >= pos0 + Tn && cache->k[0].size(0) == B, "Model::forward: KV cache of shape ",
                cache->k[0].shape().str(), " cannot hold batch ", B, " up to position ", pos0 + Tn);
    }
    if (segments) {
      PMC_CHECK(cache == nullptr && pos0 == 0, "Model::forward: packed windows (segments) are for training: no KV ",
                "cache and pos0 = 0, got pos0 ", pos0, cache ? " with a cache" : "");
      autograd::check_packing_supported<D>();
      segments->check(B, Tn, "Model::forward");
    }
    auto x = autograd::embedding(embed_, flat(tokens));  // (N, D)
    for (int l = 0; l < config().n_layers; ++l) {
      if (recompute_ && cache == nullptr) {
        // keep only the block's input; its activations are recomputed when the gradient reaches it
        auto run = [this, l, B, Tn, segments](const Var<T, D>& in) {
          if (hooks_) hooks_->gather(l);
          auto y = block_forward(l, in, B, Tn, 0, nullptr, segments);
          if (hooks_ && !autograd::grad_enabled()) hooks_->release(l);  // the recomputed forward keeps them
          return y;
        };
        x = autograd::recompute(run, x, blocks_[static_cast<std::size_t>(l)].trains(), [this, l] {
          if (hooks_) hooks_->backward_done(l);
        });
      } else {
        PMC_CHECK(!hooks_ || !autograd::grad_enabled(), "Model::forward: training with sharded weights (block hooks) needs activation recompute");
        if (hooks_) hooks_->gather(l);
        x = block_forward(l, x, B, Tn, pos0, cache, segments);
        if (hooks_) hooks_->release(l);
      }
    }
    if (cache) cache->length = pos0 + Tn;
    return autograd::rms_norm(x, final_norm_, config().norm_eps);
  }

  /// Mean next-token cross-entropy: targets (B, T) hold the token each position predicts, or -100.
  /// `count` receives the number of targets that counted, `value` the loss in double (see cross_entropy).
  /// `segments`: packed windows (see forward).
  Var<T, D> loss(const Tensor<std::int32_t, D>& tokens, const Tensor<std::int32_t, D>& targets,
                 std::int64_t* count = nullptr, double* value = nullptr,
                 std::shared_ptr<const ops::Segments> segments = nullptr) const {
    check_same_shape(tokens.shape(), targets.shape(), "Model::loss: tokens and targets");
    auto logits = forward(tokens, 0, nullptr, std::move(segments));
    return autograd::cross_entropy(logits, flat(targets), ops::kIgnoreIndex, count, value);
  }

  /// Activation recompute per transformer block: when on, a training forward keeps only each block's input
  /// (B·T·dim elements) and recomputes the block's activations during backward, one block at a time; the
  /// gradients are bit-identical, the step does one more forward. Off by default; inference is unaffected.
  void set_recompute(bool on) { recompute_ = on; }
  bool recompute() const { return recompute_; }

  /// Installs (or, with nullptr, removes) the hooks a weight-sharding trainer runs around each block (BlockHooks).
  void set_block_hooks(BlockHooks* hooks) { hooks_ = hooks; }

  std::int64_t parameter_count() const {
    std::int64_t n = 0;
    for (auto& p : named_parameters()) n += p.var.value().numel();
    return n;
  }

  void zero_grad() const {
    for (auto& p : parameters_to_train()) p.var.zero_grad();
  }

  // ---- LoRA -----------------------------------------------------------------------------------------------

  /// Freezes the base (no gradient is kept for any of its weights) and adds a LoRA adapter to every targeted
  /// projection of every block (LoraConfig: y = x·Wᵀ + scaling · dropout(x)·Aᵀ·Bᵀ), initialized as PEFT does:
  /// A ~ U(-1/√in, 1/√in) (Kaiming-uniform with a = √5), drawn on the host from `seed` (so any device gets the
  /// same adapter), and B = 0, so the model's outputs are unchanged until B trains. The adapters require grad
  /// unless `trainable` is false (an adapter loaded to evaluate or generate).
  void add_lora(const LoraConfig& lora, std::uint64_t seed = 0, bool trainable = true) {
    const std::string problem = lora.problem();
    PMC_CHECK(problem.empty(), "Model::add_lora: ", problem);
    PMC_CHECK(!lora_, "Model::add_lora: the model already has LoRA adapters");
    freeze_base();
    std::mt19937_64 rng(seed);
    for (auto& b : blocks_) {
      for (auto p : lora.targets) {
        const Shape w = b.weight(p).shape();
        const std::int64_t out = w[0], in = w[1];
        Tensor<T, Cpu> a({lora.rank, in});
        const float bound = 1.0f / std::sqrt(static_cast<float>(in));
        std::uniform_real_distribution<float> dist(-bound, bound);
        for (auto& x : a.span()) x = static_cast<T>(dist(rng));
        Tensor<T, Cpu> zero({out, lora.rank});
        zero.fill(T(0));
        b.lora[static_cast<std::size_t>(p)] = {Var<T, D>(to_device<D>(a), trainable),
                                               Var<T, D>(to_device<D>(zero), trainable)};
      }
    }
    lora_ = lora;
  }

  /// The LoRA settings when the model has adapters.
  const std::optional<LoraConfig>& lora() const { return lora_; }

  /// Every adapter tensor with PEFT's name ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
  /// block by block, projection by projection, A before B: the keys of PEFT's adapter_model.safetensors.
  std::vector<NamedParameter<T, D>> lora_parameters() const {
    std::vector<NamedParameter<T, D>> out;
    for (int l = 0; l < config().n_layers; ++l) {
      const auto& b = blocks_[static_cast<std::size_t>(l)];
      for (auto p : kAllProjections) {
        const auto& a = b.lora[static_cast<std::size_t>(p)];
        if (!a.defined()) continue;
        const std::string prefix = "base_model.model.model.layers." + std::to_string(l) + "." + projection_module(p);
        out.push_back({prefix + ".lora_A.weight", a.a});
        out.push_back({prefix + ".lora_B.weight", a.b});
      }
    }
    return out;
  }

  /// What training updates: the adapters when the model has LoRA (the base is frozen), else every parameter.
  std::vector<NamedParameter<T, D>> parameters_to_train() const {
    return lora_ ? lora_parameters() : named_parameters();
  }

  /// Stops gradients for every base parameter (LoRA's frozen base) and drops their gradient buffers.
  void freeze_base() const {
    for (auto& p : named_parameters()) {
      p.var.set_requires_grad(false);
      p.var.reset_grad();
    }
  }

  /// Stores the seven projection weights of every block quantized (ops/quantize.hpp: int8, QLoRA's NF4 with
  /// double-quantized scales, or llama.cpp's q8_0 / q4_0, laid out for the device's kernels by
  /// Quantize<D>::for_matmul) and frees them: the forward and backward dequantize each
  /// one on the fly, one at a time (or, for a few rows, multiply straight from the blocks). The base must be frozen
  /// first (freeze_base, or add_lora before or after); embeddings, norms and biases stay in T. The head stays in T
  /// too, except with q8_0 / q4_0 (llama.cpp's inference formats): an untied head whose width is a multiple of 32
  /// is stored in q8_0 (quantized_head()), as llama.cpp's Q8_0 files store it and finer than the Q6_K of its Q4_0
  /// files: decoding reads the head every token (a 32000 × 2048 head is 262 MB in fp32, 70 MB in q8_0).
  /// q8_0 / q4_0 block a row in 32s: a projection whose input width is not a multiple of 32 stays in T, as
  /// llama.cpp's converters keep such tensors unquantized (an error when no projection can be quantized).
  /// BaseQuant::none does nothing.
  void quantize_base(BaseQuant format) {
    quantize_projections(format, [](int, Projection, const Var<T, D>& w) { return w.value(); }, no_ready_blocks);
  }

  /// quantize_base with the projections produced one at a time: `produce(layer, p, w)` fills `w`, a fresh tensor
  /// of T with the projection's shape (read from a file, drawn at random), which is quantized and freed before the
  /// next one is made. The model's own projection weights are never read, so an unallocated model
  /// (Model::unallocated, its other parameters loaded) becomes a quantized one while holding at most one
  /// projection in T: a 13B whose projections in bf16 (24 GiB) would not fit in memory is built in q8_0 (13 GiB).
  /// A projection q8_0 / q4_0 cannot block is kept: `w` becomes its weight in T. The same rules and errors as
  /// quantize_base.
  template <class Produce>
  void quantize_base_from(BaseQuant format, Produce&& produce) {
    quantize_base_from(format, no_ready_blocks, std::forward<Produce>(produce));
  }
  /// quantize_base_from where a projection may come already in `format`'s blocks: `ready(layer, p)` returns them
  /// (a std::optional<ops::QuantizedMatrix<D>>: a llama.cpp file's own q8_0 / q4_0 tensor, borrowed from its
  /// mapping) or nullopt, and only then is `produce` asked for the projection in T. Blocks of another format or
  /// shape are refused (a pmc::Error naming the layer and projection). `head`: the head's blocks when they exist
  /// already (q8_0 / q4_0 bases; a llama.cpp file's output.weight, borrowed), used instead of quantizing head().
  template <class Ready, class Produce>
  void quantize_base_from(BaseQuant format, Ready&& ready, Produce&& produce,
                          std::optional<ops::QuantizedMatrix<D>> head = std::nullopt) {
    if (format == BaseQuant::none) return;
    if (head) {
      PMC_CHECK(ops::is_ggml_format(head->format) && (format == BaseQuant::q8_0 || format == BaseQuant::q4_0) &&
                    !config().tied_embeddings && head->shape() == head_.shape(),
                "Model::quantize_base: the given head blocks are ", ops::quant_format_name(head->format), " of ",
                head->shape().str(), ", expected q8_0 or q4_0 of ", head_.shape().str(), " for a ",
                base_quant_name(format), " base with an untied head");
      head_quantized_ = ops::Quantize<D>::for_matmul(std::move(*head));
    }
    quantize_projections(
        format,
        [&](int layer, Projection p, const Var<T, D>& v) {
          auto w = Tensor<T, D>::empty(v.shape());
          produce(layer, p, w);
          return w;
        },
        ready);
  }
  /// How the base's projections are stored (none: in T).
  BaseQuant base_quant() const { return base_quant_; }
  /// Bytes of the quantized projection weights and head (codes and scales; 0 when the base is not quantized).
  std::int64_t quantized_bytes() const {
    std::int64_t n = 0;
    for (const auto& b : blocks_)
      for (const auto& q : b.quantized)
        if (q) n += q->bytes();
    if (head_quantized_) n += head_quantized_->bytes();
    return n;
  }

  /// Folds the adapters into the base, W ← W + scaling · B·A (what PEFT's merge_and_unload does), and removes
  /// them: the model then runs without LoRA and gives the same outputs (to the rounding of T).
  void merge_lora() {
    PMC_CHECK(lora_.has_value(), "Model::merge_lora: the model has no LoRA adapters");
    PMC_CHECK(base_quant_ == BaseQuant::none, "Model::merge_lora: the base is quantized (",
              base_quant_name(base_quant_), "); merge into a model loaded unquantized");
    const float s = static_cast<float>(lora_->scaling());
    for (auto& b : blocks_) {
      for (auto p : kAllProjections) {
        auto& a = b.lora[static_cast<std::size_t>(p)];
        if (!a.defined()) continue;
        const auto& w = b.weight(p).value();
        auto delta = Tensor<T, D>::empty(w.shape());
        ops::Matmul<D>::forward(a.b.value(), a.a.value(), delta, false, false);  // (out, r)·(r, in)
        ops::Elementwise<D>::accumulate(w, delta, s);
        a = {};
      }
    }
    lora_.reset();
  }

  /// Turns LoRA dropout on for the next forwards (a key) or off (nullopt, the default: evaluation, generation).
  /// The masks are a function of the key, the layer, the projection and the element (autograd::dropout), so a
  /// rerun, a block recomputed during backward, or a resumed run draws the same ones. The trainer sets a key
  /// from the seed, step, micro-batch and rank before each training forward and clears it after the backward.
  void set_dropout_key(std::optional<std::uint64_t> key) { dropout_key_ = key; }

 private:
  static std::optional<ops::QuantizedMatrix<D>> no_ready_blocks(int, Projection) { return std::nullopt; }

  // quantize_base's work: ready(layer, p) gives the projection's blocks when they exist already, else get(layer, p,
  // weight var) gives its value in T (the model's own, or one made for the occasion), which is quantized (or, when
  // q8_0 / q4_0 cannot block it, kept as the weight)
  template <class Get, class Ready>
  void quantize_projections(BaseQuant format, Get&& get, Ready&& ready) {
    if (format == BaseQuant::none) return;
    PMC_CHECK(base_quant_ == BaseQuant::none, "Model::quantize_base: the base is already quantized (",
              base_quant_name(base_quant_), ")");
    PMC_CHECK(!blocks_.empty() && !blocks_[0].wq.requires_grad(),
              "Model::quantize_base: a quantized base cannot train; freeze it (freeze_base or add_lora) first");
    const auto f = format == BaseQuant::int8   ? ops::QuantFormat::int8
                   : format == BaseQuant::q8_0 ? ops::QuantFormat::q8_0
                   : format == BaseQuant::q4_0 ? ops::QuantFormat::q4_0
                                               : ops::QuantFormat::nf4;
    auto blockable = [&](const Shape& s) { return !ops::is_ggml_format(f) || s[1] % ops::quant::kGgmlBlock == 0; };
    bool any = false;
    for (auto p : kAllProjections) any = any || blockable(blocks_[0].weight(p).shape());
    PMC_CHECK(any, "Model::quantize_base: ", base_quant_name(format), " blocks rows in 32s, and no projection of this ",
              "model has an input width that is a multiple of 32 (dim ", config().dim, ", ffn_dim ", config().ffn_dim,
              ")");
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      auto& b = blocks_[l];
      for (auto p : kAllProjections) {
        const auto& w = b.weight(p);
        if (std::optional<ops::QuantizedMatrix<D>> blocks = ready(static_cast<int>(l), p)) {
          PMC_CHECK(blocks->format == f && blocks->shape() == w.shape(), "Model::quantize_base: layer ", l, " ",
                    projection_name(p), ": the given blocks are ", ops::quant_format_name(blocks->format), " of ",
                    blocks->shape().str(), ", expected ", base_quant_name(format), " of ", w.shape().str());
          b.quantized[static_cast<std::size_t>(p)] = ops::Quantize<D>::for_matmul(std::move(*blocks));
          w.set_value(Tensor<T, D>::wrap(nullptr, w.shape()));
          continue;
        }
        Tensor<T, D> value = get(static_cast<int>(l), p, w);
        if (!blockable(w.shape())) {  // kept in T (q8_0 / q4_0 only)
          w.set_value(std::move(value));
          continue;
        }
        b.quantized[static_cast<std::size_t>(p)] = ops::Quantize<D>::for_matmul(ops::Quantize<D>::quantize(value, f));
        w.set_value(Tensor<T, D>::wrap(nullptr, w.shape()));
      }
    }
    if (quantized_head_elements(config(), format) > 0) {
      if (!head_quantized_) {
        PMC_CHECK(head_.value().defined() && head_.value().data() != nullptr,
                  "Model::quantize_base: the head has no weights to quantize (load them first)");
        head_quantized_ = ops::Quantize<D>::for_matmul(ops::Quantize<D>::quantize(head_.value(), ops::QuantFormat::q8_0));
      }
      head_.set_value(Tensor<T, D>::wrap(nullptr, head_.shape()));
    }
    base_quant_ = format;
  }

  /// A token tensor as one flat row: a view when contiguous, else a copy (on a GPU, a strided token tensor must
  /// be a slice of contiguous rows, see the device's pmc::copy).
  static Tensor<std::int32_t, D> flat(const Tensor<std::int32_t, D>& t) {
    if (t.is_contiguous()) return t.reshape({t.numel()});
    auto c = Tensor<std::int32_t, D>::empty(t.shape());
    pmc::copy(t, c);
    return c.reshape({t.numel()});
  }

  /// Positions [0, n) of one layer's KV cache (B, S_max, Hkv, Dh) as attention's keys or values, read in place:
  /// a slice along dim 1, whose batch stride stays S_max·Hkv·Dh. It is contiguous when B = 1 (or n = S_max); at
  /// B > 1 a device whose attention takes only contiguous K/V (one whose ops::Attention<D> does not declare
  /// strided_kv, as CUDA's) gets a copy of it instead.
  static Tensor<T, D> cache_prefix(const Tensor<T, D>& cache, std::int64_t n) {
    auto view = cache.slice(1, 0, n);
    constexpr bool strided_ok = requires { requires ops::Attention<D>::strided_kv; };
    if (strided_ok || view.is_contiguous()) return view;
    auto c = Tensor<T, D>::empty(view.shape());
    pmc::copy(view, c);
    return c;
  }

  Var<T, D> block_forward(int l, const Var<T, D>& x, std::int64_t B, std::int64_t Tn, std::int64_t pos0,
                          KvCache<T, D>* cache, const std::shared_ptr<const ops::Segments>& segments = nullptr) const {
    namespace ag = autograd;
    const Block& b = blocks_[static_cast<std::size_t>(l)];
    const Config c = config();
    const std::int64_t H = c.n_heads, Hkv = c.n_kv_heads, Dh = c.head_dim();
    auto h = ag::rms_norm(x, b.attn_norm, c.norm_eps);                                   // (N, D)
    // in · Wᵀ (+ bias) (+ scaling · dropout(in)·Aᵀ·Bᵀ with a LoRA adapter)
    auto proj = [&](const Var<T, D>& in, Projection p) {
      const Var<T, D>& w = b.weight(p);
      const Var<T, D>& bias = b.bias(p);
      Var<T, D> y;
      if (const auto& q = b.quantized[static_cast<std::size_t>(p)]) y = bias.defined() ? ag::linear(in, *q, bias) : ag::linear(in, *q);
      else y = bias.defined() ? ag::linear(in, w, bias) : ag::linear(in, w);
      const auto& adapter = b.lora[static_cast<std::size_t>(p)];
      if (!adapter.defined()) return y;
      Var<T, D> x = in;
      if (lora_->dropout > 0 && dropout_key_ && adapter.a.requires_grad())
        x = ag::dropout(in, lora_->dropout, *dropout_key_ ^ (0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(
                                                                 l * kProjections + static_cast<int>(p) + 1)));
      auto low = ag::linear(ag::linear(x, adapter.a), adapter.b);  // (N, r) then (N, out)
      return ag::add(y, ag::scale(low, static_cast<float>(lora_->scaling())));
    };
    auto q = ag::rope(ag::reshape(proj(h, Projection::q), {B, Tn, H, Dh}), pos0, c.rope(),
                      rope_layout_, segments);                                           // (B, T, H, Dh)
    auto k = ag::rope(ag::reshape(proj(h, Projection::k), {B, Tn, Hkv, Dh}), pos0, c.rope(),
                      rope_layout_, segments);                                           // (B, T, Hkv, Dh)
    auto v = ag::reshape(proj(h, Projection::v), {B, Tn, Hkv, Dh});                      // (B, T, Hkv, Dh)
    Var<T, D> attn;
    if (cache) {
      PMC_CHECK(!autograd::grad_enabled() || !(q.requires_grad()),
                "Model::forward: a KV cache is for inference; use pmc::autograd::NoGrad");
      auto& ck = cache->k[static_cast<std::size_t>(l)];
      auto& cv = cache->v[static_cast<std::size_t>(l)];
      pmc::copy(k.value(), ck.slice(1, pos0, pos0 + Tn));
      pmc::copy(v.value(), cv.slice(1, pos0, pos0 + Tn));
      const Var<T, D> keys(cache_prefix(ck, pos0 + Tn), false);  // (B, pos0+T, Hkv, Dh): views of the cache
      const Var<T, D> values(cache_prefix(cv, pos0 + Tn), false);
      attn = ag::attention(q, keys, values, pos0, c.sliding_window);
    } else {
      PMC_CHECK(pos0 == 0, "Model::forward: pos0 > 0 needs a KV cache holding the earlier positions");
      attn = ag::attention(q, k, v, 0, c.sliding_window, segments);                      // (B, T, H, Dh)
    }
    auto x1 = ag::add(x, proj(ag::reshape(attn, {B * Tn, c.q_dim()}), Projection::o));  // (N, D)
    auto h2 = ag::rms_norm(x1, b.ffn_norm, c.norm_eps);
    auto mlp = proj(ag::swiglu(proj(h2, Projection::gate), proj(h2, Projection::up)), Projection::down);
    return ag::add(x1, mlp);                                                             // (N, D)
  }

  Var<T, D> embed_;
  std::vector<Block> blocks_;
  Var<T, D> final_norm_;
  Var<T, D> head_;
  std::optional<ops::QuantizedMatrix<D>> head_quantized_;  // q8_0 / q4_0 bases (quantize_base)
  ops::RopeLayout rope_layout_ = ops::RopeLayout::rotate_half;
  SpecialTokenIds special_tokens_{};
  bool recompute_ = false;
  BlockHooks* hooks_ = nullptr;  // not owned
  std::optional<LoraConfig> lora_;
  BaseQuant base_quant_ = BaseQuant::none;
  std::optional<std::uint64_t> dropout_key_;
  Config config_{};  // the architecture of a dynamic model (unused when C is static)
};

}  // namespace pmc::llama
