// SPDX-License-Identifier: MIT
// `pmc convert`: any model pmc reads (HF folder, .safetensors, llama2.c .bin) to a Hugging Face folder.
#include <cstdio>
#include <string>

#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/pmc.hpp>

#include "command.hpp"

namespace {

const pmc::cli::Command convert_command{
    "convert", "Convert a model (HF folder, .safetensors, llama2.c .bin) to a Hugging Face folder", [](CLI::App& app) {
      struct Opts {
        std::string model, out, dtype = "fp32";
      };
      auto o = std::make_shared<Opts>();
      app.add_option("--model", o->model, "HF folder, .safetensors file or llama2.c .bin")->required();
      app.add_option("--out", o->out, "output folder (config.json + model.safetensors)")->required();
      app.add_option("--dtype", o->dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
      return [o]() {
        {
          const auto model = pmc::llama::load_model<float>(o->model);
          const pmc::llama::Config C = model.config();
          if (o->dtype == "bf16") {
            pmc::llama::Model<pmc::llama::dynamic, pmc::bf16> half(C, false);
            auto src = model.named_parameters();
            auto dst = half.named_parameters();
            for (std::size_t i = 0; i < src.size(); ++i) src[i].var.value().copy_to(dst[i].var.value());
            half.set_rope_layout(model.rope_layout());
            half.set_special_tokens(model.special_tokens());
            pmc::llama::save_hf(half, o->out);
          } else {
            pmc::llama::save_hf(model, o->out);
          }
          std::printf("pmc convert: %s (%s, %lld parameters) -> %s\n", o->model.c_str(),
                      pmc::llama::config_label(C).c_str(), static_cast<long long>(C.parameters()), o->out.c_str());
          return 0;
        }
      };
    }};

}  // namespace
