// SPDX-License-Identifier: MIT
// LoRA's settings (rank, alpha, dropout, which projections) and the frozen base's storage (bf16, int8, NF4),
// as Hugging Face PEFT names them; the adapters themselves live in the model (lora.hpp).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <pmc/core/error.hpp>
#include <pmc/models/llama/config.hpp>

namespace pmc::llama {

/// The seven linear projections of a LLaMA block, in the order of Model::Block's weights.
enum class Projection : int { q, k, v, o, gate, up, down };
inline constexpr int kProjections = 7;
inline constexpr std::array<Projection, kProjections> kAllProjections{
    Projection::q, Projection::k, Projection::v, Projection::o, Projection::gate, Projection::up, Projection::down};

/// PEFT's target_modules name of a projection ("q_proj") and its Hugging Face module path in a block
/// ("self_attn.q_proj").
constexpr std::string_view projection_name(Projection p) {
  constexpr std::array<std::string_view, kProjections> names{"q_proj",    "k_proj",  "v_proj",  "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"};
  return names[static_cast<std::size_t>(p)];
}
inline std::string projection_module(Projection p) {
  const int i = static_cast<int>(p);
  return std::string(i < 4 ? "self_attn." : "mlp.") + std::string(projection_name(p));
}
/// The Hugging Face name of block `layer`'s projection weight ("model.layers.3.mlp.down_proj.weight").
inline std::string projection_weight_name(int layer, Projection p) {
  return "model.layers." + std::to_string(layer) + "." + projection_module(p) + ".weight";
}
/// The names of every block's seven projection weights (what Model::quantize_base stores quantized).
inline std::set<std::string> projection_weight_names(int n_layers) {
  std::set<std::string> names;
  for (int l = 0; l < n_layers; ++l)
    for (auto p : kAllProjections) names.insert(projection_weight_name(l, p));
  return names;
}

/// How the base's projection weights are stored: as the model's own element type (none), or quantized
/// (ops/quantize.hpp): int8 with a scale per block of 64, QLoRA's 4-bit NormalFloat with double-quantized block
/// scales (both for LoRA's frozen base), or llama.cpp's q8_0 and q4_0 (blocks of 32 with an fp16 scale: weight-only
/// quantized inference, `pmc eval/generate --weights`).
enum class BaseQuant { none, int8, nf4, q8_0, q4_0 };
inline std::string_view base_quant_name(BaseQuant q) {
  switch (q) {
    case BaseQuant::int8: return "int8";
    case BaseQuant::nf4: return "nf4";
    case BaseQuant::q8_0: return "q8_0";
    case BaseQuant::q4_0: return "q4_0";
    default: return "none";
  }
}
/// The elements of the head a base quantized in `q` holds in q8_0 (Model::quantize_base, llama::plan_memory): q8_0 /
/// q4_0 bases store an untied head whose width (dim) is a multiple of 32 in q8_0, as llama.cpp's files do; 0 when
/// the head stays in the model's type.
inline std::int64_t quantized_head_elements(const Config& c, BaseQuant q) {
  const bool ggml = q == BaseQuant::q8_0 || q == BaseQuant::q4_0;
  return ggml && !c.tied_embeddings && c.dim % 32 == 0 ? std::int64_t{c.vocab_size} * c.dim : 0;
}

inline BaseQuant parse_base_quant(std::string_view s, std::string_view what = "--base-quant") {
  if (s == "none" || s == "bf16") return BaseQuant::none;
  if (s == "int8") return BaseQuant::int8;
  if (s == "nf4") return BaseQuant::nf4;
  if (s == "q8_0") return BaseQuant::q8_0;
  if (s == "q4_0") return BaseQuant::q4_0;
  throw Error(std::string(what) + ": '" + std::string(s) + "' is not one of none, int8, nf4, q8_0, q4_0");
}

/// LoRA (Hu et al. 2021) as PEFT's LoraConfig: each targeted projection y = x·Wᵀ becomes
///   y = x·Wᵀ + scaling · dropout(x)·Aᵀ·Bᵀ,  A: (rank, in), B: (out, rank),
/// scaling = alpha / rank (alpha / √rank with rsLoRA); W is frozen, A and B train. PEFT initializes A
/// Kaiming-uniform (U(-1/√in, 1/√in)) and B to zero, so a fresh adapter leaves the model unchanged.
struct LoraConfig {
  int rank = 8;
  double alpha = 16;
  double dropout = 0;  // on the adapter's input, training only
  std::vector<Projection> targets{Projection::q, Projection::v};  // PEFT's LLaMA default
  bool rslora = false;

  double scaling() const { return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank; }
  bool targets_projection(Projection p) const {
    for (auto t : targets)
      if (t == p) return true;
    return false;
  }
  /// Why this config cannot be used, or "".
  std::string problem() const {
    if (rank <= 0) return "rank must be positive, got " + std::to_string(rank);
    if (!(alpha > 0) || !std::isfinite(alpha)) return "alpha must be positive and finite";
    if (!(dropout >= 0 && dropout < 1)) return "dropout must be in [0, 1)";
    if (targets.empty()) return "no target projection";
    return "";
  }
  friend bool operator==(const LoraConfig&, const LoraConfig&) = default;
};

/// "q,k,v,o,gate,up,down" (either spelling: "q" or "q_proj"), or "all" / "attention" / "mlp", into projections
/// in block order; a pmc::Error naming `what` and the unknown name otherwise.
inline std::vector<Projection> parse_lora_targets(std::string_view list, std::string_view what = "--lora-targets") {
  std::array<bool, kProjections> on{};
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = list.find(',', start);
    std::string_view item = list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    bool known = false;
    if (item == "all" || item == "attention" || item == "mlp") {
      for (int i = 0; i < kProjections; ++i)
        if (item == "all" || (item == "attention") == (i < 4)) on[static_cast<std::size_t>(i)] = true;
      known = true;
    }
    for (auto p : kAllProjections) {
      const auto name = projection_name(p);
      if (item == name || item == name.substr(0, name.size() - 5)) on[static_cast<std::size_t>(p)] = known = true;
    }
    PMC_CHECK(known, what, ": '", std::string(item), "' is not a projection (q, k, v, o, gate, up, down, or all, ",
              "attention, mlp)");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::vector<Projection> out;
  for (auto p : kAllProjections)
    if (on[static_cast<std::size_t>(p)]) out.push_back(p);
  return out;
}

/// The targets as PEFT writes target_modules: {"q_proj", "v_proj"}.
inline std::vector<std::string> lora_target_modules(const LoraConfig& c) {
  std::vector<std::string> out;
  for (auto p : c.targets) out.emplace_back(projection_name(p));
  return out;
}

}  // namespace pmc::llama
