// SPDX-License-Identifier: MIT
// Greedy text generation from a checkpoint of any LLaMA shape: the architecture is read from the file at run
// time (pmc::llama::load_model gives a Model<dynamic, T>: the same model as Model<Config, T>, whose shapes are
// fixed at compile time), the weights are loaded (memory-mapped), and the prompt is continued with a KV cache. By default it loads llama2.c's stories260K from
// ../shared and starts from BOS alone, which reproduces the greedy output that llama2.c publishes for it
// ("Once upon a time, there was a little girl named Lily..."). A missing file is reported and the program exits
// with 77 (ctest's skip code). Also loads Hugging Face folders or .safetensors files, e.g. what train_tiny_llama
// or `pmc pipeline` wrote.
//
//   cmake --build build/release --target example_generate_from_checkpoint
//   build/release/bin/generate_from_checkpoint [MODEL [TOKENIZER [PROMPT [MAX_NEW_TOKENS]]]]
//   (run from the project root; MODEL defaults to ../shared/data/models/stories260K/stories260K.bin and
//   TOKENIZER to tok512.model beside it)
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <pmc/pmc.hpp>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  const fs::path stories260k = "../shared/data/models/stories260K";
  const fs::path model_path = argc > 1 ? fs::path(argv[1]) : stories260k / "stories260K.bin";
  const fs::path tokenizer_path = argc > 2 ? fs::path(argv[2]) : stories260k / "tok512.model";
  const std::string prompt = argc > 3 ? argv[3] : "";
  const int max_new_tokens = argc > 4 ? std::stoi(argv[4]) : 256;  // as llama2.c's `run` (-n 256)
  for (const auto& path : {model_path, tokenizer_path}) {
    if (!fs::exists(path)) {
      std::printf("generate_from_checkpoint: %s is missing (the stories260K model is in ../shared, see README.md); "
                  "skipped\n", path.c_str());
      return 77;
    }
  }

  try {
    const auto tok = pmc::tokenizer::Tokenizer::load(tokenizer_path);
    const auto model = pmc::llama::load_model<float>(model_path);  // also sets the RoPE layout of the format
    const pmc::llama::Config C = model.config();
    PMC_CHECK(tok.vocab_size() <= C.vocab_size, tokenizer_path.string(), " has ", tok.vocab_size(),
              " pieces, more than the model's vocabulary of ", C.vocab_size);

    const std::vector<std::int32_t> prompt_ids = tok.encode(prompt, /*bos=*/true);
    pmc::llama::GenerateOptions greedy;  // sampler temperature 0: the most likely token at each step
    greedy.max_new_tokens = max_new_tokens;
    greedy.stop_tokens = {tok.bos_id(), tok.eos_id()};  // llama2.c stops at BOS
    const auto generated = pmc::llama::generate(model, std::span<const std::int32_t>(prompt_ids), greedy);

    // Decoding prompt and continuation together keeps the spaces between them.
    std::vector<std::int32_t> all = prompt_ids;
    all.insert(all.end(), generated.begin(), generated.end());
    std::printf("%s\n", tok.decode(all).c_str());
    std::printf("[%s: config %s, %lld parameters; %zu prompt tokens, %zu generated]\n", model_path.c_str(),
                pmc::llama::config_label(C).c_str(), static_cast<long long>(model.parameter_count()),
                prompt_ids.size(), generated.size());
    return 0;
  } catch (const std::exception& e) {  // pmc::Error (a bad or missing file) or a bad number
    std::fprintf(stderr, "generate_from_checkpoint: %s\n", e.what());
    return 1;
  }
}
