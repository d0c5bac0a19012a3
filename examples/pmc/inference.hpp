// SPDX-License-Identifier: MIT
// What `pmc eval`, `pmc generate` and `pmc pipeline` share: a checkpoint of any LLaMA shape loaded as a
// Model<dynamic> of its stored architecture, on the CPU or (built with CUDA) the GPU, and used to score a benchmark or to continue a prompt. No
// CLI11 here: the GPU half is compiled by nvcc (cuda/inference_cuda.cu).
// The templates below (the model in fp32 and bf16, scoring, decoding) are instantiated in one file per device:
// inference.cpp (CPU) and cuda/inference_cuda.cu (GPU). A subcommand calls the plain functions at the end
// (evaluate_on_device, generate_on_device, evaluate_on_cpu, ...), never the templates: they cost about a minute
// of compile time, and compiled once per subcommand they took most of the program's build.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <pmc/eval/benchmarks.hpp>
#include <pmc/eval/scoring.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/generate.hpp>
#include <pmc/models/llama/lora.hpp>
#include <pmc/pmc.hpp>
#include <pmc/tokenizer/tokenizer.hpp>

#include "device.hpp"
#include "tokenizer_files.hpp"

namespace pmc::cli {

/// Which checkpoint to run, where, and in which type.
/// --tokenizer, or the model's folder when none is given (a Hugging Face folder carries tokenizer.json or
/// tokenizer.model); a model file without --tokenizer is an error saying so.
inline std::string tokenizer_or_model_folder(const std::string& tokenizer, const std::string& model) {
  if (!tokenizer.empty()) return tokenizer;
  std::error_code ec;
  PMC_CHECK(std::filesystem::is_directory(model, ec), "--tokenizer is required when --model (", model,
            ") is a file rather than a folder holding tokenizer.json or tokenizer.model");
  return model;
}

struct ModelTarget {
  std::string path;                // HF folder, .safetensors file or llama2.c .bin
  std::string device = "cpu";      // cpu, or cuda
  std::string precision = "fp32";  // fp32, or bf16 (the GPU only)
  std::string tokenizer;           // for messages: the tokenizer file checked against the model
  std::string adapter;             // a PEFT LoRA adapter folder loaded (frozen, not merged) onto the model, or ""
  std::string weights;             // "" (as precision), fp32, bf16, q8_0 or q4_0 (see with_model)
  std::string memory = "auto";     // where CPU weights stored in the model's type live: auto, mapped or copied
};

/// The values of --weights: the model's type (fp32, bf16) or llama.cpp's block quantization of its projections.
inline bool quantized_weights(const std::string& w) { return w == "q8_0" || w == "q4_0"; }

/// The element type a target's model is loaded in: --weights fp32 / bf16 when given (it must not contradict
/// --precision bf16), else --precision.
inline std::string model_precision(const ModelTarget& t) {
  PMC_CHECK(t.weights.empty() || t.weights == "fp32" || t.weights == "bf16" || quantized_weights(t.weights),
            "--weights must be fp32, bf16, q8_0 or q4_0, got '", t.weights, "'");
  if (t.weights == "bf16") return "bf16";
  if (t.weights == "fp32") {
    PMC_CHECK(t.precision != "bf16", "--weights fp32 contradicts --precision bf16");
    return "fp32";
  }
  return t.precision;
}

/// Bytes of the checkpoint at `path`: a file's size, or the sizes of a folder's files together.
inline std::uint64_t checkpoint_bytes(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return fs::file_size(path, ec);
  std::uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  return n;
}

/// Memory the system can give now without swapping (/proc/meminfo's MemAvailable); 0 when unknown.
inline std::uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

/// --weight-memory (`choice`: auto, mapped or copied) for the checkpoint at `path`, said on stderr. auto: weights
/// stored in the model's type are copied into memory of their own (huge pages: decoding reads them faster than the
/// file's pages) when the checkpoint takes at most 3/4 of the available memory; else they stay mapped, so that a
/// checkpoint larger than the memory still runs, paged in from the file.
inline llama::WeightMemory weight_memory_for(const std::filesystem::path& path, const std::string& choice) {
  PMC_CHECK(choice == "auto" || choice == "mapped" || choice == "copied",
            "--weight-memory must be auto, mapped or copied, got '", choice, "'");
  const double gb = 1e-9;
  if (choice != "auto") {
    std::fprintf(stderr, "pmc: weights %s (--weight-memory %s)\n",
                 choice == "copied" ? "copied into memory" : "mapped from the file", choice.c_str());
    return choice == "copied" ? llama::WeightMemory::copied : llama::WeightMemory::mapped;
  }
  const std::uint64_t bytes = checkpoint_bytes(path), free = available_memory();
  const bool fits = bytes > 0 && free > 0 && bytes <= free / 4 * 3;
  std::fprintf(stderr, "pmc: weights %s: the checkpoint's %.2f GB %s 3/4 of the %.2f GB available (--weight-memory)\n",
               fits ? "copied into memory" : "mapped from the file", static_cast<double>(bytes) * gb,
               fits ? "fit in" : "exceed", static_cast<double>(free) * gb);
  return fits ? llama::WeightMemory::copied : llama::WeightMemory::mapped;
}

/// Loads t.path as a Model<dynamic, T, D> (T from t.precision or t.weights: fp32, or bf16, which halves the
/// weights' memory: a 7B takes 13.5 GB instead of 27), with t.adapter's LoRA adapters on it when given (frozen, run
/// beside the base's projections: not merged), and returns f(model). On the CPU a checkpoint's tensors stored in T
/// are copied into memory or memory-mapped as t.memory says (weight_memory_for). t.weights q8_0 / q4_0: the model is frozen and the seven projections of every block are quantized to
/// llama.cpp's blocks (Model::quantize_base; embeddings, norms and the head stay in T), and run from them
/// (autograd::linear on a QuantizedMatrix); on the CPU each is quantized as it is read (load_model_quantized), so
/// a 13B checkpoint in bf16 evaluates in q8_0 on a 24 GiB machine.
template <Device D, class F>
decltype(auto) with_model(const ModelTarget& t, const tokenizer::Tokenizer& tok, F&& f) {
  auto run = [&]<class T>() {
    auto load = [&] {
      if constexpr (std::is_same_v<D, Cpu>) {  // each projection quantized as it is read: never the whole base in T
        const auto memory = weight_memory_for(t.path, t.memory);
        if (quantized_weights(t.weights))
          return llama::load_model_quantized<T>(t.path, llama::parse_base_quant(t.weights, "--weights"), memory);
        return llama::load_model<T, D>(t.path, false, memory);
      }
      return llama::load_model<T, D>(t.path);
    };
    auto model = load();
    if (!t.adapter.empty()) llama::load_peft_adapter(model, t.adapter, /*trainable=*/false);
    if (quantized_weights(t.weights) && model.base_quant() == llama::BaseQuant::none) {
      model.freeze_base();
      model.quantize_base(llama::parse_base_quant(t.weights, "--weights"));
    }
    const int vocab = model.config().vocab_size;
    PMC_CHECK(tok.vocab_size() <= vocab, t.tokenizer, ": the tokenizer has ", tok.vocab_size(),
              " pieces but the model ", t.path, " only ", vocab, " embeddings");
    return f(std::as_const(model));
  };
  const std::string precision = model_precision(t);
  if (precision == "bf16") return run.template operator()<bf16>();
  PMC_CHECK(precision == "fp32", "--precision must be fp32 or bf16, got '", precision, "'");
  return run.template operator()<float>();
}

/// Scores `items` with `model` by option likelihood or by generation (see eval/scoring.hpp).
template <class M>
eval::EvalReport evaluate(const M& model, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                          const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt) {
  return scorer == eval::Scorer::generate ? eval::evaluate_generate(model, tok, items, opt)
                                          : eval::evaluate_likelihood(model, tok, items, opt);
}

/// evaluate and llama::generate on the CPU, for the architecture of the checkpoint (inference.cpp: the CPU
/// instantiations, compiled once).
eval::EvalReport evaluate_on_cpu(const ModelTarget& t, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                                 const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt);
std::vector<std::int32_t> generate_on_cpu(const ModelTarget& t, const tokenizer::Tokenizer& tok,
                                          std::span<const std::int32_t> prompt, const llama::GenerateOptions& go);

#if defined(PMC_CLI_WITH_CUDA)
/// evaluate and llama::generate on the GPU (cuda/inference_cuda.cu, compiled by nvcc).
PMC_CLI_CUDA_ENTRY eval::EvalReport evaluate_cuda(const ModelTarget& t, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                               const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt);
PMC_CLI_CUDA_ENTRY std::vector<std::int32_t> generate_cuda(const ModelTarget& t, const tokenizer::Tokenizer& tok,
                                        std::span<const std::int32_t> prompt, const llama::GenerateOptions& go);
#endif

/// evaluate on the GPU (t.device == "cuda"), or fails saying why this program cannot.
inline eval::EvalReport evaluate_on_gpu(const ModelTarget& t, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                                        const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt) {
#if defined(PMC_CLI_WITH_CUDA)
  return evaluate_cuda(t, scorer, tok, items, opt);
#else
  (void)t, (void)scorer, (void)tok, (void)items, (void)opt;
  fail_without_cuda();
#endif
}

/// evaluate on t.device, for the architecture of the checkpoint.
inline eval::EvalReport evaluate_on_device(const ModelTarget& t, eval::Scorer scorer, const tokenizer::Tokenizer& tok,
                                           const std::vector<eval::McqItem>& items, const eval::EvalOptions& opt) {
  if (wants_cuda(t.device)) return evaluate_on_gpu(t, scorer, tok, items, opt);
  return evaluate_on_cpu(t, scorer, tok, items, opt);
}

/// llama::generate on t.device, for the architecture of the checkpoint.
inline std::vector<std::int32_t> generate_on_device(const ModelTarget& t, const tokenizer::Tokenizer& tok,
                                                    std::span<const std::int32_t> prompt,
                                                    const llama::GenerateOptions& go) {
  if (wants_cuda(t.device)) {
#if defined(PMC_CLI_WITH_CUDA)
    return generate_cuda(t, tok, prompt, go);
#else
    fail_without_cuda();
#endif
  }
  return generate_on_cpu(t, tok, prompt, go);
}

}  // namespace pmc::cli
