// SPDX-License-Identifier: MIT
// LoRA adapters in Hugging Face PEFT's layout: a folder with adapter_config.json and adapter_model.safetensors
// (tensors "base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight", A: (r, in), B: (out, r)), which
// PEFT's PeftModel.from_pretrained(base, dir) loads, and which pmc loads from PEFT. The adapters themselves are
// the model's (Model::add_lora, lora_parameters, merge_lora).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <pmc/io/atomic_file.hpp>
#include <pmc/io/llama2c.hpp>
#include <pmc/io/safetensors.hpp>
#include <pmc/models/llama/lora_config.hpp>
#include <pmc/models/llama/model.hpp>

namespace pmc::llama {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";

/// Whether `dir` holds a PEFT adapter (its adapter_config.json).
inline bool is_adapter_folder(const std::filesystem::path& dir) {
  return std::filesystem::is_directory(dir) && std::filesystem::exists(dir / kAdapterConfigFile);
}

/// adapter_config.json as PEFT 0.21 writes it for a LoRA adapter on a causal LM (PEFT fills what is absent with
/// its defaults when it reads the file).
inline nlohmann::json peft_config_json(const LoraConfig& c, const std::string& base_model) {
  nlohmann::json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  j["base_model_name_or_path"] = base_model.empty() ? nlohmann::json(nullptr) : nlohmann::json(base_model);
  j["r"] = c.rank;
  j["lora_alpha"] = c.alpha;
  j["lora_dropout"] = c.dropout;
  j["target_modules"] = lora_target_modules(c);
  j["use_rslora"] = c.rslora;
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["use_dora"] = false;
  j["init_lora_weights"] = true;
  j["inference_mode"] = true;
  j["modules_to_save"] = nullptr;
  j["layers_to_transform"] = nullptr;
  j["layers_pattern"] = nullptr;
  j["rank_pattern"] = nlohmann::json::object();
  j["alpha_pattern"] = nlohmann::json::object();
  j["revision"] = nullptr;
  return j;
}

/// The LoRA settings of a PEFT adapter_config.json (the file, or the adapter folder holding it). What pmc cannot
/// run the way PEFT would is refused with the file and the key: another peft_type, biases, DoRA, fan_in_fan_out,
/// modules_to_save, per-layer ranks or alphas, layers_to_transform, a regex or a module other than the seven
/// projections.
inline LoraConfig read_peft_config(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path file = fs::is_directory(path) ? path / kAdapterConfigFile : path;
  const std::string where = file.string();
  PMC_CHECK(fs::exists(file), where, ": no such file (a PEFT adapter folder holds adapter_config.json and ",
            kAdapterWeightsFile, ")");
  const nlohmann::json j = io::read_json_file(file);
  PMC_CHECK(j.is_object(), where, ": not a JSON object");
  auto get = [&](const char* key) -> const nlohmann::json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  auto string_is = [&](const char* key, const char* wanted, bool required) {
    const auto* v = get(key);
    if (!v) {
      PMC_CHECK(!required, where, ": key '", key, "' is missing");
      return;
    }
    PMC_CHECK(v->is_string() && v->get<std::string>() == wanted, where, ": key '", key, "' is ", v->dump(),
              "; pmc loads only ", wanted);
  };
  auto flag_off = [&](const char* key) {
    const auto* v = get(key);
    PMC_CHECK(!v || (v->is_boolean() && !v->get<bool>()), where, ": key '", key, "' is ", v ? v->dump() : "",
              "; pmc's LoRA does not support it");
  };
  auto empty_or_null = [&](const char* key) {
    const auto* v = get(key);
    PMC_CHECK(!v || v->empty(), where, ": key '", key, "' is ", v ? v->dump() : "",
              "; pmc's LoRA needs one rank, alpha and module set for every layer");
  };
  auto number = [&](const char* key, double fallback) {
    const auto* v = get(key);
    if (!v) return fallback;
    PMC_CHECK(v->is_number(), where, ": key '", key, "' is ", v->dump(), ", not a number");
    return v->get<double>();
  };
  string_is("peft_type", "LORA", true);
  string_is("bias", "none", false);
  flag_off("use_dora");
  flag_off("fan_in_fan_out");
  flag_off("lora_bias");
  empty_or_null("modules_to_save");
  empty_or_null("rank_pattern");
  empty_or_null("alpha_pattern");
  empty_or_null("layers_to_transform");
  empty_or_null("layer_replication");
  LoraConfig c;
  const auto* r = get("r");
  PMC_CHECK(r && r->is_number_integer(), where, ": key 'r' (the rank) is ", r ? r->dump() : "missing",
            "; a positive integer is needed");
  PMC_CHECK(r->get<std::int64_t>() > 0 && r->get<std::int64_t>() <= (1 << 20), where, ": key 'r' is ",
            r->dump(), "; a positive integer is needed");
  c.rank = r->get<int>();
  c.alpha = number("lora_alpha", 8);  // PEFT's default
  c.dropout = number("lora_dropout", 0);
  if (const auto* v = get("use_rslora")) {
    PMC_CHECK(v->is_boolean(), where, ": key 'use_rslora' is ", v->dump(), ", not true or false");
    c.rslora = v->get<bool>();
  }
  const auto* t = get("target_modules");
  PMC_CHECK(t, where, ": key 'target_modules' is missing");
  std::vector<std::string> modules;
  if (t->is_string()) {
    modules.push_back(t->get<std::string>());
  } else {
    PMC_CHECK(t->is_array(), where, ": key 'target_modules' is ", t->dump(), ", not a list of module names");
    for (const auto& m : *t) {
      PMC_CHECK(m.is_string(), where, ": key 'target_modules' holds ", m.dump(), ", not a module name");
      modules.push_back(m.get<std::string>());
    }
  }
  std::string list;
  for (const auto& m : modules) {
    PMC_CHECK(m != "all-linear", where, ": target_modules 'all-linear' also adapts lm_head; pmc adapts the seven ",
              "projections (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
    list += (list.empty() ? "" : ",") + m;
  }
  try {
    c.targets = parse_lora_targets(list, where + ": target_modules");
  } catch (const Error& e) {
    fail(e.what());
  }
  const std::string problem = c.problem();
  PMC_CHECK(problem.empty(), where, ": ", problem);
  return c;
}

namespace detail {
/// The q or k projection's head count when `name` is the B matrix of its adapter (whose rows are the projection's
/// outputs, in the base's RoPE layout), else 0.
inline int rotary_heads_of_adapter(const std::string& name, const Config& c) {
  if (name.ends_with("self_attn.q_proj.lora_B.weight")) return c.n_heads;
  if (name.ends_with("self_attn.k_proj.lora_B.weight")) return c.n_kv_heads;
  return 0;
}
}  // namespace detail

/// Writes the model's adapters as a PEFT adapter folder: adapter_config.json (`base_model`, when given, as its
/// base_model_name_or_path) and adapter_model.safetensors in the model's element type. PEFT's adapters apply to
/// Hugging Face's rotate-half layout: on a base in Meta's interleaved layout (a llama2.c checkpoint) the rows of the
/// q and k adapters' B are permuted as save_hf permutes the base's q and k weights.
template <Config C, class T, Device D>
void save_peft_adapter(const Model<C, T, D>& model, const std::filesystem::path& dir, const std::string& base_model = "") {
  PMC_CHECK(model.lora().has_value(), "save_peft_adapter: the model has no LoRA adapters");
  const bool permute = model.rope_layout() == ops::RopeLayout::interleaved;
  std::vector<io::SafetensorsEntry> entries;
  for (const auto& p : model.lora_parameters()) {
    const int heads = permute ? detail::rotary_heads_of_adapter(p.name, model.config()) : 0;
    if (heads > 0)
      entries.push_back(io::tensor_entry(
          p.name, io::permute_rotary_for_hf(pmc::to_host(p.var.value()).template to<float>(), heads).template to<T>()));
    else
      entries.push_back(io::tensor_entry(p.name, pmc::to_host(p.var.value())));
  }
  io::ensure_directory(dir);
  io::write_safetensors(dir / kAdapterWeightsFile, entries, {{"format", "pt"}});
  io::write_file_atomic(dir / kAdapterConfigFile, peft_config_json(*model.lora(), base_model).dump(2) + "\n");
}

/// Adds to `model` (which must have none) the adapters of the PEFT folder `dir`, read in any floating dtype and
/// converted to T: the config's rank, alpha, dropout and targets, then every tensor, whose names and shapes must
/// be exactly those the config gives this model (else an error naming the file and the tensor). The base is
/// frozen; the adapters require grad when `trainable` (to train them further), not when they only run. On a base
/// in Meta's interleaved RoPE layout the q and k adapters' B rows are permuted from PEFT's rotate-half layout.
template <Config C, class T, Device D>
LoraConfig load_peft_adapter(Model<C, T, D>& model, const std::filesystem::path& dir, bool trainable = true) {
  const LoraConfig lora = read_peft_config(dir);
  const auto weights = dir / kAdapterWeightsFile;
  PMC_CHECK(std::filesystem::exists(weights), weights.string(), ": no such file (the adapter's tensors)");
  const auto file = io::SafetensorsFile::open(weights);
  model.add_lora(lora, 0, trainable);
  std::map<std::string, Shape> expected;
  for (const auto& p : model.lora_parameters()) expected.emplace(p.name, p.var.shape());
  io::check_tensors(file, expected, weights.string());
  const bool permute = model.rope_layout() == ops::RopeLayout::interleaved;  // see save_peft_adapter
  for (const auto& p : model.lora_parameters()) {
    const int heads = permute ? detail::rotary_heads_of_adapter(p.name, model.config()) : 0;
    if (heads > 0)
      pmc::copy(to_device<D>(io::permute_rotary_from_hf(file.get<float>(p.name), heads).template to<T>()), p.var.value());
    else
      io::load_into(file, p.name, p.var.value());
  }
  return lora;
}

}  // namespace pmc::llama
