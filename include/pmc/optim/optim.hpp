// SPDX-License-Identifier: MIT
// The optim umbrella: parameters and groups, AdamW, SGD, clipping, schedules, accumulation, precision policies.
#pragma once

#include <pmc/optim/adamw.hpp>
#include <pmc/optim/grad_accumulation.hpp>
#include <pmc/optim/grad_clip.hpp>
#include <pmc/optim/lr_schedule.hpp>
#include <pmc/optim/param.hpp>
#include <pmc/optim/precision.hpp>
#include <pmc/optim/sgd.hpp>
#include <pmc/optim/state.hpp>
