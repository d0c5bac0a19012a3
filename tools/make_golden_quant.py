#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Generates tests/golden/quant/nf4.safetensors: bitsandbytes' NF4 quantization (QLoRA's format, block size 64,
# double quantization of the absmaxes in blocks of 256 with the signed dynamic 8-bit map), run on the CPU, which
# tests/ops/quantize_test.cpp compares with pmc's ops::Quantize byte for byte.
#
#   pip install bitsandbytes==0.50.2   # the version the committed file was made with (CPU is enough)
#   python3 tools/make_golden_quant.py
#
# For each case NAME the file holds
#   NAME.w          (rows, cols) float32   the input
#   NAME.codes      (rows*cols/2) uint8    packed NF4 codes: element 2i in the HIGH nibble, 2i+1 in the LOW one
#   NAME.absmax     (blocks) uint8         the absmaxes' 8-bit codes (indices into the dynamic map)
#   NAME.absmax2    (ceil(blocks/256)) f32 the second-level absmax per 256 blocks
#   NAME.offset     () float32             the mean of the absmaxes, subtracted before their quantization
#   NAME.dequant    (rows, cols) float32   bitsandbytes.functional.dequantize_4bit
# and once: nf4_levels (16) and dynamic_map (256), the float32 tables bitsandbytes used.
# bitsandbytes' CPU quantize_blockwise (which codes the absmaxes) reads a 65536-bin lookup table rather than taking
# the nearest entry of the dynamic map, and the offset is torch's float32 mean: pmc takes the nearest entry and a
# double-summed mean, so the test checks exact equality of the format (pmc dequantizes these bytes to these floats),
# of the NF4 codes and absmax2, and explains each differing absmax code by that table.
"""Golden file for pmc's NF4 quantization (bitsandbytes parity)."""

import pathlib

import torch
from safetensors.torch import save_file

import bitsandbytes
import bitsandbytes.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "golden" / "quant"


def adversarial(rows, cols, gen):
    w = torch.randn(rows, cols, generator=gen, dtype=torch.float32) * 0.02
    flat = w.view(-1)
    flat[0:64] = 0.0                                   # block 0: all zeros
    flat[64:128] = torch.randn(64, generator=gen) * 1e-3
    flat[64 + 17] = 40.0                               # block 1: one huge outlier
    flat[128:192] = 0.375                              # block 2: constant
    flat[192:256] = -torch.rand(64, generator=gen)     # block 3: negative only
    # block 4: absmax 1, and the 16 NF4 levels and their 15 float32 midpoints exactly (tie-breaking)
    levels = F.get_4bit_type("nf4", device="cpu")
    mids = (levels[:-1] + levels[1:]) / 2
    b4 = torch.cat([levels, mids, -mids[:8], torch.zeros(64 - 16 - 15 - 8)])
    flat[256:320] = b4
    flat[320:384] = -1e-30                             # block 5: tiny, negative, constant
    return w


def case(name, w):
    q, s = F.quantize_4bit(w, quant_type="nf4", compress_statistics=True, blocksize=64)
    assert s.nested and s.blocksize == 64 and s.state2.blocksize == 256
    dq = F.dequantize_4bit(q, s)
    return {
        f"{name}.w": w.contiguous(),
        f"{name}.codes": q.reshape(-1).contiguous(),
        f"{name}.absmax": s.absmax.reshape(-1).contiguous(),
        f"{name}.absmax2": s.state2.absmax.reshape(-1).float().contiguous(),
        f"{name}.offset": s.offset.reshape(()).float().contiguous(),
        f"{name}.dequant": dq.float().contiguous(),
    }, s


def make():
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(20230523)  # QLoRA's arXiv date
    tensors = {}
    # 64x256: 256 blocks, one absmax group; 40x512: 320 blocks, a full group and a partial one of 64.
    t, s = case("w64x256", adversarial(64, 256, gen))
    tensors.update(t)
    t, _ = case("w40x512", torch.randn(40, 512, generator=gen, dtype=torch.float32))
    tensors.update(t)
    tensors["nf4_levels"] = F.get_4bit_type("nf4", device="cpu").float().contiguous()
    tensors["dynamic_map"] = s.state2.code.float().contiguous()
    save_file(tensors, str(OUT / "nf4.safetensors"),
              metadata={"source": "tools/make_golden_quant.py", "bitsandbytes": bitsandbytes.__version__,
                        "torch": torch.__version__})
    print("wrote", OUT / "nf4.safetensors", "with bitsandbytes", bitsandbytes.__version__)


if __name__ == "__main__":
    make()
