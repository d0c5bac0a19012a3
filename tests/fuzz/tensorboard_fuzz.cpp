// SPDX-License-Identifier: MIT
// io::read_tensorboard_scalars (TFRecord framing, checksums, Event/Summary protobufs) on arbitrary bytes.
#include <pmc/io/tensorboard.hpp>

#include "fuzz_support.hpp"

PMC_FUZZ_TARGET(tensorboard) {
  const auto path = pmc::fuzz::write_input(data, size, "events.out.tfevents.fuzz");
  return pmc::fuzz::refuse_or_accept([&] { (void)pmc::io::read_tensorboard_scalars(path); });
}
