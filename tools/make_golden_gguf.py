# SPDX-License-Identifier: MIT
"""Generate the GGUF golden files under tests/golden/gguf/ with the `gguf` package (llama.cpp's gguf-py).

The committed HF goldens (tests/golden/hf/) have projection widths (24, 52, 60, ...) that are not multiples of
32, so Q8_0/Q4_0 (blocks of 32 along ne0, the input dimension) cannot quantize them: llama.cpp would fall back to
F16 for those tensors. This script therefore builds its own tiny random ``transformers.LlamaForCausalLM``
("gqa32": hidden 32, intermediate 64, 4 query heads sharing 2 kv heads of head_dim 8, 2 layers, vocab 64; fixed
seed, weights normal(0, 0.2), RMSNorm weights 1 + normal(0, 0.1), as tools/make_golden_hf.py does) and writes
it as llama.cpp's convert_hf_to_gguf.py does for LlamaForCausalLM:

  tensor names   token_embd.weight, blk.{i}.attn_norm.weight, blk.{i}.attn_q/attn_k/attn_v/attn_output.weight,
                 blk.{i}.ffn_norm.weight, blk.{i}.ffn_gate/ffn_up/ffn_down.weight, output_norm.weight,
                 output.weight
  q and k        permuted by LlamaModel.permute (HF's rotate-half rows back to Meta's interleaved pairs)
  1-D tensors    F32 in every file (convert_hf_to_gguf keeps n_dims <= 1 and *_norm.weight in F32)
  metadata       general.architecture "llama", general.type, general.name, general.file_type,
                 general.quantization_version, llama.context_length, llama.embedding_length,
                 llama.block_count, llama.feed_forward_length, llama.attention.head_count,
                 llama.attention.head_count_kv, llama.rope.freq_base, llama.attention.layer_norm_rms_epsilon,
                 llama.vocab_size, llama.rope.dimension_count; a synthetic vocabulary as tokenizer.ggml.*
                 (model "llama", tokens, scores, token_type, bos/eos ids: string, float and int arrays)

Files (tests/golden/gguf/):
  gqa32_f32.gguf, gqa32_f16.gguf, gqa32_bf16.gguf, gqa32_q8_0.gguf, gqa32_q4_0.gguf
      2-D tensors in that type (Q4_0 is not an outtype of convert_hf_to_gguf.py, which stops at Q8_0; the file
      is what llama-quantize's pure Q4_0 gives: every 2-D tensor Q4_0), quantized by gguf.quants.quantize
  types.gguf
      every metadata value type (uint8 .. float64, bool, string, arrays of each, an array of arrays, an empty
      string), general.alignment = 64, and four tiny tensors of shape (2, 32) i.e. ne = [32, 2]: a F32, b F16,
      c Q8_0, d Q4_1
  expected.safetensors
      src.<gguf name>    float32  the source values in GGUF's order (q/k permuted), pmc row-major shape
      q8_0.<gguf name>   float32  gguf.quants.dequantize of the Q8_0 file's tensor (2-D tensors)
      q4_0.<gguf name>   float32  gguf.quants.dequantize of the Q4_0 file's tensor (2-D tensors)
      raw.q8_0.blk.0.attn_q.weight, raw.q4_0.blk.0.attn_q.weight   uint8   the stored blocks, byte for byte
      types.a, types.c, types.d   float32  types.gguf's a, and gguf.quants.dequantize of c and d
      input_ids          int32    (1, T)
      logits             float64  (T, V)  the float64 HF model's logits (HF layout, unpermuted weights)
      logits_q8_0, logits_q4_0  float64 (T, V)  the float64 HF model's logits with the dequantized weights

Usage: python3 tools/make_golden_gguf.py [--out tests/golden/gguf] [--check]
  --check   regenerate into a temporary folder and compare bytewise with --out.
"""

import argparse
import filecmp
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from importlib.metadata import version as _version  # noqa: E402
GGUF_PACKAGE_VERSION = _version("gguf")

CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=64, vocab_size=64, tie_word_embeddings=False, rope_theta=10000.0,
              rms_norm_eps=1e-5, max_position_embeddings=64, head_dim=8)
SEED = 2024
T = 8
NAME = "gqa32"
# (file suffix, type of 2-D tensors, general.file_type as llama.cpp's LlamaFileType)
KINDS = [("f32", Q.F32, 0), ("f16", Q.F16, 1), ("bf16", Q.BF16, 32), ("q8_0", Q.Q8_0, 7), ("q4_0", Q.Q4_0, 2)]


def permute(weights, n_head, n_head_kv):
    """convert_hf_to_gguf.py's LlamaModel.permute, verbatim in effect (numpy instead of torch)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def unpermute(weights, n_head, n_head_kv):
    """The inverse of permute (Meta's interleaved rows back to HF's rotate-half)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, weights.shape[0] // n_head // 2, 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def build_model():
    torch.manual_seed(SEED)
    cfg = LlamaConfig(**CONFIG)
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    return cfg, model


def gguf_tensors(model):
    """(gguf name, float32 numpy array) in the order convert_hf_to_gguf.py writes them, q/k permuted."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    H, KV = CONFIG["num_attention_heads"], CONFIG["num_key_value_heads"]
    out = [("token_embd.weight", sd["model.embed_tokens.weight"])]
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"]),
                (f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], H, H)),
                (f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], H, KV)),
                (f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"]),
                (f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"]),
                (f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]),
                (f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"]),
                (f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"]),
                (f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])]
    out += [("output_norm.weight", sd["model.norm.weight"]), ("output.weight", sd["lm_head.weight"])]
    return [(n, np.ascontiguousarray(a, dtype=np.float32)) for n, a in out]


def write_llama_gguf(path, tensors, qtype, file_type):
    c = CONFIG
    w = gguf.GGUFWriter(path, "llama")
    w.add_type("model")
    w.add_name("gqa32")
    w.add_block_count(c["num_hidden_layers"])
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv(c["num_key_value_heads"])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_file_type(file_type)
    w.add_vocab_size(c["vocab_size"])
    w.add_rope_dimension_count(c["head_dim"])
    w.add_tokenizer_model("llama")
    V = c["vocab_size"]
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"tok{i}" for i in range(3, V)])
    w.add_token_scores([0.0, 0.0, 0.0] + [-float(i) for i in range(3, V)])
    w.add_token_types([2, 3, 3] + [1] * (V - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    stored = {}
    for name, a in tensors:
        t = qtype if a.ndim == 2 else Q.F32  # 1-D (the norms) stay F32, as convert_hf_to_gguf.py keeps them
        if t == Q.F32:
            data = a
            w.add_tensor(name, data)
        elif t == Q.F16:
            data = gguf.quants.quantize(a, Q.F16)
            w.add_tensor(name, data)
        else:
            data = gguf.quants.quantize(a, t)
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=t)
        stored[name] = (t, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored


def write_types_gguf(path):
    w = gguf.GGUFWriter(path, "llama")
    w.data_alignment = 64
    w.add_uint32("general.alignment", 64)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.25)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "h\u00e9llo")
    w.add_key_value("test.empty_string", "", gguf.GGUFValueType.STRING)
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float64("test.f64", -1.5e300)
    w.add_array("test.array_i32", [1, -2, 3])
    w.add_key_value("test.array_u8", [1, 2, 255], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.UINT8)
    w.add_key_value("test.array_f64", [0.5, -2.0], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT64)
    w.add_array("test.array_bool", [True, False])
    w.add_array("test.array_string", ["a", "bc", ""])
    w.add_array("test.array_array", [[1, 2], [3]])
    a = (np.arange(64, dtype=np.float32).reshape(2, 32) - 20) / 8
    w.add_tensor("a", a)
    w.add_tensor("b", a.astype(np.float16))
    q = gguf.quants.quantize(a, Q.Q8_0)
    w.add_tensor("c", q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
    q1 = gguf.quants.quantize(a, Q.Q4_1)
    w.add_tensor("d", q1, raw_shape=q1.shape, raw_dtype=Q.Q4_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"a": a, "c": gguf.quants.dequantize(q, Q.Q8_0), "d": gguf.quants.dequantize(q1, Q.Q4_1)}


def logits_of(model, tensors, ids):
    """The float64 HF model's logits with the weights `tensors` (gguf names, q/k permuted) loaded into it."""
    m = LlamaForCausalLM(model.config).double().eval()
    H, KV = CONFIG["num_attention_heads"], CONFIG["num_key_value_heads"]
    back = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
            "output.weight": "lm_head.weight"}
    parts = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    sd = {}
    for name, a in tensors.items():
        if name in back:
            sd[back[name]] = a
            continue
        _, i, part, _ = name.split(".")
        if part == "attn_q":
            a = unpermute(a, H, H)
        elif part == "attn_k":
            a = unpermute(a, H, KV)
        sd[f"model.layers.{i}.{parts[part]}.weight"] = a
    m.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in sd.items()}, strict=True)
    with torch.no_grad():
        return m(torch.from_numpy(ids).long()).logits[0].double().numpy()


def build(out):
    os.makedirs(out, exist_ok=True)
    cfg, model = build_model()
    tensors = gguf_tensors(model)
    expected = {}
    for name, a in tensors:
        expected["src." + name] = a
    dequant = {}
    for suffix, qtype, file_type in KINDS:
        stored = write_llama_gguf(os.path.join(out, f"{NAME}_{suffix}.gguf"), tensors, qtype, file_type)
        if qtype in (Q.Q8_0, Q.Q4_0):
            d = {}
            for name, (t, data) in stored.items():
                v = gguf.quants.dequantize(data, t).astype(np.float32).reshape(dict(tensors)[name].shape)
                d[name] = v
                if t != Q.F32:
                    expected[f"{suffix}.{name}"] = np.ascontiguousarray(v)
            expected[f"raw.{suffix}.blk.0.attn_q.weight"] = np.ascontiguousarray(
                stored["blk.0.attn_q.weight"][1].view(np.uint8).reshape(-1))
            dequant[suffix] = d
    for name, v in write_types_gguf(os.path.join(out, "types.gguf")).items():
        expected["types." + name] = np.ascontiguousarray(v.astype(np.float32))

    rng = np.random.default_rng(SEED)
    ids = rng.integers(0, CONFIG["vocab_size"], size=(1, T)).astype(np.int32)
    expected["input_ids"] = ids
    expected["logits"] = logits_of(model, dict(tensors), ids)
    for suffix in ("q8_0", "q4_0"):
        expected["logits_" + suffix] = logits_of(model, dequant[suffix], ids)
    # the HF model itself, unpermuted, must agree with the round trip through the permuted tensors
    with torch.no_grad():
        direct = model.double()(torch.from_numpy(ids).long()).logits[0].numpy()
    d = np.abs(direct - expected["logits"]).max() / np.abs(direct).max()
    assert d < 1e-12, f"permute round trip changed the logits: {d}"
    save_file({k: np.ascontiguousarray(v) for k, v in sorted(expected.items())}, os.path.join(out, "expected.safetensors"),
              metadata={"generator": f"tools/make_golden_gguf.py gguf={GGUF_PACKAGE_VERSION} "
                                     f"torch={torch.__version__}"})
    scale = np.abs(expected["logits"]).max()
    for suffix in ("q8_0", "q4_0"):
        e = np.abs(expected["logits_" + suffix] - expected["logits"]).max() / scale
        print(f"{suffix}: logits max relative difference from f32 {e:.3e} (|logits|max {scale:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "golden", "gguf"))
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with --out")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    target = tempfile.mkdtemp() if args.check else args.out
    build(target)
    if args.check:
        bad = []
        for f in sorted(os.listdir(target)):
            a, b = os.path.join(target, f), os.path.join(args.out, f)
            if not (os.path.exists(b) and filecmp.cmp(a, b, shallow=False)):
                bad.append(f)
        shutil.rmtree(target)
        if bad:
            print("DIFFERENT:", *bad)
            sys.exit(1)
        print("identical to", args.out)


if __name__ == "__main__":
    main()
