// SPDX-License-Identifier: MIT
// Loading and saving a Model's weights: Hugging Face folders (config.json + model.safetensors or shards),
// single safetensors files, and llama2.c `.bin` files. Errors name the file and the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pmc/io/gguf.hpp>
#include <pmc/io/hf_config.hpp>
#include <pmc/io/llama2c.hpp>
#include <pmc/io/safetensors.hpp>
#include <pmc/models/llama/gguf.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/models/llama/registry.hpp>
#include <pmc/models/llama/weight_memory.hpp>

namespace pmc::llama {

enum class CheckpointFormat { hf_folder, safetensors_file, llama2c_bin, gguf_file };

/// What a path holds: a folder with config.json, a `.safetensors` file, a llama2.c `.bin`, or a llama.cpp `.gguf`.
inline CheckpointFormat detect_format(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  PMC_CHECK(fs::exists(path), path.string(), ": no such file or folder");
  if (fs::is_directory(path)) {
    PMC_CHECK(fs::exists(path / "config.json"), path.string(), ": a model folder needs a config.json");
    return CheckpointFormat::hf_folder;
  }
  if (path.extension() == ".safetensors") return CheckpointFormat::safetensors_file;
  if (path.extension() == ".bin") return CheckpointFormat::llama2c_bin;
  if (path.extension() == ".gguf") return CheckpointFormat::gguf_file;
  fail(path.string(), ": unknown model format (expected a Hugging Face folder, a .safetensors file, a llama2.c .bin ",
       "or a llama.cpp .gguf)");
}

/// The config.json of the checkpoint at `path`: a folder's own, or the one beside a .safetensors file (which may
/// be absent: check); none for a llama2.c .bin, whose header holds its architecture.
inline std::optional<std::filesystem::path> config_json_of(const std::filesystem::path& path) {
  switch (detect_format(path)) {
    case CheckpointFormat::hf_folder: return path / "config.json";
    case CheckpointFormat::safetensors_file: return path.parent_path() / "config.json";
    case CheckpointFormat::llama2c_bin:
    case CheckpointFormat::gguf_file: return std::nullopt;
  }
  return std::nullopt;
}

/// The architecture stored at `path`: config.json of a folder (or beside a .safetensors file), or a .bin's header.
inline Config read_architecture(const std::filesystem::path& path) {
  switch (detect_format(path)) {
    case CheckpointFormat::hf_folder:
    case CheckpointFormat::safetensors_file: {
      const auto cfg = *config_json_of(path);
      PMC_CHECK(std::filesystem::exists(cfg), path.string(), ": a config.json beside the file is needed to know the architecture");
      return config_from_hf(io::read_hf_config(cfg));
    }
    case CheckpointFormat::llama2c_bin: {
      auto m = io::read_llama2c(path);
      return config_from_hf(m.header.hf_config());
    }
    case CheckpointFormat::gguf_file: return gguf_architecture(io::GgufFile::open(path));
  }
  return {};
}

/// The end-of-sequence ids a checkpoint's config.json lists (Llama-3: end of text and end of turn); none for a
/// llama2.c .bin or a .safetensors file without a config.json beside it.
inline std::vector<std::int32_t> checkpoint_eos_ids(const std::filesystem::path& path) {
  const auto cfg = config_json_of(path);
  if (!cfg || !std::filesystem::exists(*cfg)) return {};
  const auto ids = io::read_hf_config(*cfg).eos_token_ids;
  return {ids.begin(), ids.end()};
}

/// The architecture `name_or_path` names: a config of the registry ("llama_7b"), a config.json file, or a model
/// (a folder with config.json, a .safetensors file beside one, a llama2.c .bin). Errors say which were tried.
inline Config architecture_of(std::string_view name_or_path) {
  for (const auto& c : kConfigs)
    if (c.name == name_or_path) return c.config;
  const std::filesystem::path path(name_or_path);
  PMC_CHECK(std::filesystem::exists(path), "'", name_or_path, "' is neither a model config name (",
            supported_config_names(), ") nor a config.json file or model folder");
  Config c = path.extension() == ".json" && !std::filesystem::is_directory(path)
                 ? config_from_hf(io::read_hf_config(path))
                 : read_architecture(path);
  check_config(c, path.string());
  return c;
}

namespace detail {
/// Loads every parameter of `model` from `source` (zero-copy where stored as T). With a `quant` format the base
/// is frozen and the seven projections of every block are read one at a time into T, quantized, and their file
/// pages released before the next (Model::quantize_base_from), so the whole base is never held in T.
template <Config C, class T, class Source>
void load_named(Model<C, T, Cpu>& model, const Source& source, const std::string& where, BaseQuant quant,
                WeightMemory memory) {
  std::map<std::string, Shape> expected;
  for (const auto& p : model.named_parameters()) expected.emplace(p.name, p.var.value().shape());
  io::check_tensors(source, expected, where);
  const auto projections =
      quant == BaseQuant::none ? std::set<std::string>{} : projection_weight_names(model.config().n_layers);
  for (const auto& p : model.named_parameters())
    if (!projections.contains(p.name))  // zero-copy when stored as T, unless copied
      p.var.set_value(in_memory(source.template get<T>(p.name), source.raw(p.name), memory,
                                [&] { source.release(p.name); }));
  if (quant == BaseQuant::none) return;
  model.freeze_base();
  model.quantize_base_from(quant, [&](int layer, Projection p, const Tensor<T, Cpu>& w) {
    const std::string name = projection_weight_name(layer, p);
    source.get_into(name, w);
    source.release(name);
  });
}
}  // namespace detail

/// Loads weights into `model` from an HF folder, a .safetensors file or a llama2.c .bin. The stored
/// architecture must equal the model's (else an error naming both); the RoPE layout follows the format.
/// `quant` (not none): the base is frozen and its projections stored in that format (Model::quantize_base); from
/// safetensors each is quantized as it is read (see load_model_quantized); from GGUF a projection stored in that
/// format runs from the file's blocks (load_gguf_weights); from a llama2.c .bin after loading. `memory`: whether
/// the safetensors and GGUF tensors stored in T stay borrowed from the mapping or are copied (WeightMemory; a
/// llama2.c .bin's float weights stay mapped).
template <Config C, class T>
void load_weights(Model<C, T, Cpu>& model, const std::filesystem::path& path, BaseQuant quant = BaseQuant::none,
                  WeightMemory memory = WeightMemory::mapped) {
  const Config stored = read_architecture(path);
  PMC_CHECK(stored == model.config(), path.string(), ": the checkpoint's architecture (", describe(stored),
            ") does not match the model's (", describe(model.config()), ")");
  if (const auto cfg = config_json_of(path)) {  // read_architecture found it
    const auto h = io::read_hf_config(*cfg);
    model.set_special_tokens({h.bos_token_id, h.eos_token_ids});
  } else {
    model.set_special_tokens({});  // llama2.c: LLaMA's 1 and 2
  }
  auto quantize_loaded = [&] {
    if (quant == BaseQuant::none) return;
    model.freeze_base();
    model.quantize_base(quant);
  };
  switch (detect_format(path)) {
    case CheckpointFormat::hf_folder: {
      auto ckpt = io::SafetensorsCheckpoint::open(path);
      detail::load_named(model, ckpt, path.string(), quant, memory);
      model.set_rope_layout(ops::RopeLayout::rotate_half);
      break;
    }
    case CheckpointFormat::safetensors_file: {
      auto file = io::SafetensorsFile::open(path);
      detail::load_named(model, file, path.string(), quant, memory);
      model.set_rope_layout(ops::RopeLayout::rotate_half);
      break;
    }
    case CheckpointFormat::llama2c_bin: {
      auto m = io::read_llama2c(path);
      for (const auto& p : model.named_parameters()) {
        auto it = m.tensors.find(p.name);
        PMC_CHECK(it != m.tensors.end(), path.string(), ": tensor ", p.name, " is missing");
        check_same_shape(it->second.shape(), p.var.value().shape(), (path.string() + ": tensor " + p.name).c_str());
        if constexpr (std::is_same_v<T, float>) p.var.set_value(it->second);  // zero-copy (private mapping)
        else p.var.set_value(it->second.template to<T>());
      }
      model.set_rope_layout(ops::RopeLayout::interleaved);
      quantize_loaded();
      break;
    }
    case CheckpointFormat::gguf_file: load_gguf_weights(model, io::GgufFile::open(path), quant, memory); break;
  }
}

/// Loads weights into a model on another device (a GPU): into a host model (memory-mapped: `memory` does not
/// matter, the weights are copied to the device), then copied. A quantized base loads on the host only.
template <Config C, class T, OffHostDevice D>
void load_weights(Model<C, T, D>& model, const std::filesystem::path& path, BaseQuant quant = BaseQuant::none,
                  [[maybe_unused]] WeightMemory memory = WeightMemory::mapped) {
  PMC_CHECK(quant == BaseQuant::none, path.string(), ": a ", base_quant_name(quant),
            " base loads on the host (load_model_quantized), not onto a device");
  auto host = Model<C, T, Cpu>::unallocated(model.config(), false);
  load_weights(host, path);
  model.copy_weights_from(host);
}

/// The model stored at `path`, whatever its architecture: a Model<dynamic, T, D> made from the stored config
/// and its weights loaded (memory-mapped where the file's dtype is T, on the host, unless `memory` is copied).
///   auto model = pmc::llama::load_model<float>("PMC_LLaMA_7B");
template <class T, Device D = Cpu>
Model<dynamic, T, D> load_model(const std::filesystem::path& path, bool trainable = false,
                                WeightMemory memory = WeightMemory::mapped) {
  const Config config = read_architecture(path);
  check_config(config, path.string());
  auto model = Model<dynamic, T, D>::unallocated(config, trainable);
  load_weights(model, path, BaseQuant::none, memory);
  return model;
}

/// The model stored at `path`, for inference with the seven projections of every block stored in `format`
/// (q8_0, q4_0, int8, nf4: Model::quantize_base; embeddings, norms and the head stay in T), frozen. From
/// safetensors (a folder or a file) each projection is read, quantized and its file pages released before the next
/// is read: memory holds the quantized base and one projection in T, so a 13B checkpoint in bf16 (24 GiB) loads in
/// q8_0 in about 14 GiB on a 24 GiB machine. A GGUF file's own q8_0 / q4_0 projections are used as they are
/// (borrowed from the mapping), other ones dequantized and quantized one at a time; a llama2.c .bin is loaded
/// whole, then quantized.
///   auto model = pmc::llama::load_model_quantized<pmc::bf16>("PMC_LLaMA_13B", pmc::llama::BaseQuant::q8_0);
template <class T>
Model<dynamic, T, Cpu> load_model_quantized(const std::filesystem::path& path, BaseQuant format,
                                            WeightMemory memory = WeightMemory::mapped) {
  const Config config = read_architecture(path);
  check_config(config, path.string());
  auto model = Model<dynamic, T, Cpu>::unallocated(config, false);
  load_weights(model, path, format, memory);
  return model;
}

/// The Hugging Face config.json fields of `model`: its architecture, `torch_dtype` and its bos / eos ids (what
/// save_hf writes, and what a training checkpoint records to be written whole later).
template <Config C, class T, Device D>
io::HfLlamaConfig hf_config_of(const Model<C, T, D>& model, std::string torch_dtype) {
  auto hf = hf_from_config(model.config(), std::move(torch_dtype));
  hf.bos_token_id = model.special_tokens().bos;
  hf.eos_token_ids = model.special_tokens().eos;
  return hf;
}

/// Saves `model` as a Hugging Face folder: config.json and model.safetensors (or shards of at most
/// `max_shard_bytes`), which transformers' LlamaForCausalLM.from_pretrained loads. Weights in Meta's
/// interleaved RoPE layout are permuted to HF's rotate-half layout on the way out.
template <Config C, class T>
void save_hf(const Model<C, T, Cpu>& model, const std::filesystem::path& dir,
             std::uint64_t max_shard_bytes = 5ull << 30) {
  PMC_CHECK(model.base_quant() == BaseQuant::none, "save_hf: ", dir.string(), ": the model's base is quantized (",
            base_quant_name(model.base_quant()), "); save its LoRA adapter (save_peft_adapter) instead");
  std::vector<io::SafetensorsEntry> entries;
  const bool permute = model.rope_layout() == ops::RopeLayout::interleaved;
  for (const auto& p : model.named_parameters()) {
    if (permute && (p.name.ends_with("q_proj.weight") || p.name.ends_with("k_proj.weight"))) {
      const int heads = p.name.ends_with("q_proj.weight") ? model.config().n_heads : model.config().n_kv_heads;
      entries.push_back(io::tensor_entry(p.name, io::permute_rotary_for_hf(p.var.value().template to<float>(), heads)
                                                     .template to<T>()));
    } else {
      entries.push_back(io::tensor_entry(p.name, p.var.value()));
    }
  }
  std::string dtype = std::is_same_v<T, bf16> ? "bfloat16" : std::is_same_v<T, f16> ? "float16" : "float32";
  io::ensure_directory(dir);
  io::write_safetensors_sharded(dir, entries, max_shard_bytes);
  io::write_hf_config(dir / "config.json", hf_config_of(model, std::move(dtype)));
}

/// Saves a model on another device (a GPU) through a host copy of its weights.
template <Config C, class T, OffHostDevice D>
void save_hf(const Model<C, T, D>& model, const std::filesystem::path& dir, std::uint64_t max_shard_bytes = 5ull << 30) {
  save_hf(model.template to_host<T>(), dir, max_shard_bytes);
}

}  // namespace pmc::llama
