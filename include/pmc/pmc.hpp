// SPDX-License-Identifier: MIT
// The CPU umbrella header: everything in pmc that needs no GPU.
#pragma once

#include <pmc/config.hpp>
#include <pmc/core/device.hpp>
#include <pmc/core/dtype.hpp>
#include <pmc/core/error.hpp>
#include <pmc/core/shape.hpp>
#include <pmc/core/storage.hpp>
#include <pmc/core/tensor.hpp>
#include <pmc/backends/cpu/ops.hpp>
#include <pmc/autograd/functions.hpp>
#include <pmc/models/llama/model.hpp>
#include <pmc/models/llama/generate.hpp>
#include <pmc/models/llama/checkpoint.hpp>
#include <pmc/models/llama/lora.hpp>
#include <pmc/models/llama/memory_plan.hpp>
#include <pmc/optim/optim.hpp>
#include <pmc/tokenizer/bpe.hpp>
#include <pmc/tokenizer/tokenizer.hpp>
#include <pmc/data/pack.hpp>
#include <pmc/data/windows.hpp>
#include <pmc/train/consolidate.hpp>
#include <pmc/train/trainer.hpp>
