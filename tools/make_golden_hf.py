# SPDX-License-Identifier: MIT
"""Generate the Hugging Face LLaMA golden files under tests/golden/hf/<case>/.

For every case a tiny random ``transformers.LlamaForCausalLM`` is built with a
fixed seed and large-std weights (normal(0, 0.2) for linear/embedding weights,
1 + normal(0, 0.1) for RMSNorm weights), saved with
``save_pretrained(dir, safe_serialization=True)`` (config.json,
generation_config.json, model.safetensors in float32), and a
``golden.safetensors`` is written next to it holding

  input_ids      int32   (B, T)      fixed random tokens
  targets        int32   (B, T)      targets[:, t] = input_ids[:, t+1], last = -100,
                                     plus a few extra positions masked to -100
  logits         float64 (B, T, V)   forward of the float64 model
  loss           float64 ()          mean cross entropy over non-ignored targets
  grad.<name>    float64 (param)     d loss / d param, HF parameter names
  greedy_prompt  int32   (P,)        input_ids[0, :P]
  greedy_ids     int32   (N,)        the N greedy (argmax) continuation tokens
  greedy_logits  float64 (N, V)      logits that produced each greedy token (rope_dynamic: decoded with a KV
                                     cache, prompt then one token per call, as generate() does: its frequencies
                                     depend on each call's length)

All golden values are computed in float64 from the float32 weights (cast
exactly).  Stock transformers computes RMSNorm and the eager softmax in float32
and the RoPE angles in float32 even for a float64 model, so this script patches
those three spots to stay in the model dtype; the result is then checked
against (a) an independent float64 re-implementation written here (agreement
~1e-15, which also proves the rotate-half RoPE layout, since the interleaved
variant disagrees) and (b) the unpatched float64 HF model (agreement ~3e-7).

Usage: python3 tools/make_golden_hf.py [--out tests/golden/hf] [--check] [--cases NAME,...]
  --check   regenerate into a temporary folder and compare bytewise with --out.
  --cases   only these cases (comma-separated; default: all).
"""

import argparse
import filecmp
import math
import os
import shutil
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,  # noqa: E402
                          Qwen2Config, Qwen2ForCausalLM)
from transformers.models.llama import modeling_llama  # noqa: E402
from transformers.models.mistral import modeling_mistral  # noqa: E402
from transformers.models.qwen2 import modeling_qwen2  # noqa: E402

FAMILIES = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
            "qwen2": (Qwen2Config, Qwen2ForCausalLM)}
PATCHED = [(modeling_llama, "LlamaRMSNorm"), (modeling_mistral, "MistralRMSNorm"), (modeling_qwen2, "Qwen2RMSNorm")]
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402

B, T = 2, 9
GREEDY_PROMPT, GREEDY_NEW = 4, 12
N_EXTRA_MASKED = 3  # extra -100 positions per case, besides the last column

# Sizes are chosen so that every file stays < 200 KB (float64 grads dominate).
CASES = {
    # grouped-query attention: 6 query heads share 2 kv heads (group of 3), head_dim 4
    "gqa": dict(hidden_size=24, num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2,
                intermediate_size=52, vocab_size=97, tie_word_embeddings=False,
                rope_theta=10000.0, rms_norm_eps=1e-5, seed=1014),
    # plain multi-head attention with tied input/output embeddings
    "mha_tied": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                     intermediate_size=60, vocab_size=64, tie_word_embeddings=True,
                     rope_theta=500000.0, rms_norm_eps=1e-5, seed=1002),
    # odd sizes: head_dim 6 (half = 3), 5 heads, prime vocab, explicit head_dim in config
    "odd": dict(hidden_size=30, num_hidden_layers=2, num_attention_heads=5, num_key_value_heads=5,
                head_dim=6, intermediate_size=26, vocab_size=131, tie_word_embeddings=False,
                rope_theta=20000.0, rms_norm_eps=1e-6, seed=1003),
    # head_dim independent of hidden / heads (q_proj is (4·10, 24), o_proj (24, 40)), as Gemma and some
    # Qwen/Mistral configs have
    "head_dim": dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     head_dim=10, intermediate_size=40, vocab_size=71, tie_word_embeddings=False,
                     rope_theta=10000.0, rms_norm_eps=1e-5, seed=1005),
    # RoPE scaling (rope_parameters' rope_type): head_dim 8 gives 4 frequency pairs with wavelengths 6.3, 63,
    # 628 and 6283 positions, so with an original context of 64 llama3 keeps pair 0, blends pair 1 and divides
    # pairs 2-3, and yarn's ramp runs over pairs 0..2 (low 0, high 2)
    "rope_linear": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        intermediate_size=40, vocab_size=67, tie_word_embeddings=False, rope_theta=10000.0,
                        rms_norm_eps=1e-5, seed=1006, rope_scaling=dict(rope_type="linear", factor=4.0),
                        max_position_embeddings=256),
    "rope_llama3": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        intermediate_size=40, vocab_size=67, tie_word_embeddings=False, rope_theta=10000.0,
                        rms_norm_eps=1e-5, seed=1009,
                        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                          original_max_position_embeddings=64),
                        max_position_embeddings=512),
    "rope_yarn": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=40, vocab_size=67, tie_word_embeddings=False, rope_theta=10000.0,
                      rms_norm_eps=1e-5, seed=1008,
                      rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=64),
                      max_position_embeddings=256),
    # dynamic NTK: transformers scales from max_position_embeddings (6) on, with the call's length S (its largest
    # position + 1): at T = 9 the base is 10000·(4·9/6 − 3)^(8/6) ≈ 43300; greedy decoding (a KV cache) reaches
    # S = 15, and pmc reads the context as factor · 6 = 24
    "rope_dynamic": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         intermediate_size=40, vocab_size=67, tie_word_embeddings=False, rope_theta=10000.0,
                         rms_norm_eps=1e-5, seed=1013, rope_scaling=dict(rope_type="dynamic", factor=4.0),
                         max_position_embeddings=6),
    # biases: LLaMA with attention_bias (q, k, v, o) and mlp_bias (gate, up, down)
    "llama_bias": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=40, vocab_size=67, tie_word_embeddings=False, rope_theta=10000.0,
                       rms_norm_eps=1e-5, seed=1014, attention_bias=True, mlp_bias=True),
    # Qwen2: biases on q, k and v only, rope_theta 1e6, tied embeddings (as the small Qwen2 models)
    "qwen2": dict(family="qwen2", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=40, vocab_size=67, tie_word_embeddings=True, rope_theta=1e6,
                  rms_norm_eps=1e-6, seed=1015),
    # Mistral with a sliding window of 4 keys: at T = 9 (and 16 greedy positions) most queries lose keys
    "mistral_window": dict(family="mistral", hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, intermediate_size=40, vocab_size=67, tie_word_embeddings=False,
                           rope_theta=10000.0, rms_norm_eps=1e-5, seed=1017, sliding_window=4),
    # multi-query attention: 4 query heads share 1 kv head
    "mqa": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                intermediate_size=48, vocab_size=50, tie_word_embeddings=False,
                rope_theta=10000.0, rms_norm_eps=1e-5, seed=1004),
}


def setup_determinism():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)


# --------------------------------------------------------------------------
# float64-faithful patches of the transformers LLaMA implementation
# --------------------------------------------------------------------------
def _rmsnorm_forward(self, hidden_states):
    dt = hidden_states.dtype
    h = hidden_states.to(torch.float64 if dt == torch.float64 else torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + self.variance_epsilon)
    return self.weight * h.to(dt)


def _eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    key_states = modeling_llama.repeat_kv(key, module.num_key_value_groups)
    value_states = modeling_llama.repeat_kv(value, module.num_key_value_groups)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    sm_dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=sm_dtype).to(query.dtype)
    attn_output = torch.matmul(attn_weights, value_states).transpose(1, 2).contiguous()
    return attn_output, attn_weights


def _rotary_forward(self, x, position_ids):
    inv = self.inv_freq_of_len(int(position_ids.max()) + 1)  # the call's length (read by dynamic scaling only)
    freqs = position_ids[..., None].to(inv.dtype) * inv
    emb = torch.cat((freqs, freqs), dim=-1)  # rotate-half layout: angle i and i + d/2 equal
    m = self.amplitude_f64
    return (m * emb.cos()).to(x.dtype), (m * emb.sin()).to(x.dtype)


class Float64Patch:
    """Context manager making a float64 LlamaForCausalLM compute entirely in float64."""

    def __enter__(self):
        self.saved = [(mod, getattr(mod, norm).forward, mod.eager_attention_forward) for mod, norm in PATCHED]
        for mod, norm in PATCHED:
            getattr(mod, norm).forward = _rmsnorm_forward
            mod.eager_attention_forward = _eager_attention_forward
        return self

    def __exit__(self, *exc):
        for (mod, norm), (_, fwd, att) in zip(PATCHED, self.saved):
            getattr(mod, norm).forward, mod.eager_attention_forward = fwd, att
        return False


def inv_freq_f64(theta, head_dim):
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))


def scaled_rope_f64(theta, head_dim, scaling, seq_len=None, max_position_embeddings=None):
    """(inv_freq, amplitude) in float64 for a rope_parameters dict, written here from the formulas (independent
    of transformers' float32 code, which main() compares it with). dynamic reads the call's length seq_len (its
    largest position + 1) and the config's max_position_embeddings, where its scaling starts."""
    inv = inv_freq_f64(theta, head_dim)
    kind = (scaling or {}).get("rope_type", "default")
    if kind == "default":
        return inv, 1.0
    f = scaling["factor"]
    if kind == "linear":
        return inv / f, 1.0
    if kind == "dynamic":
        if seq_len <= max_position_embeddings:
            return inv, 1.0
        base = theta * (f * seq_len / max_position_embeddings - (f - 1)) ** (head_dim / (head_dim - 2))
        return inv_freq_f64(base, head_dim), 1.0
    orig = scaling["original_max_position_embeddings"]
    if kind == "llama3":
        lo, hi = scaling["low_freq_factor"], scaling["high_freq_factor"]
        wl = 2 * math.pi / inv
        smooth = (orig / wl - lo) / (hi - lo)
        out = torch.where(wl > orig / lo, inv / f, inv)
        mid = (wl <= orig / lo) & (wl >= orig / hi)
        return torch.where(mid, (1 - smooth) * inv / f + smooth * inv, out), 1.0
    assert kind == "yarn"
    bf, bs = scaling.get("beta_fast", 32), scaling.get("beta_slow", 1)
    pair = lambda rot: head_dim * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(theta))
    low, high = max(math.floor(pair(bf)), 0), min(math.ceil(pair(bs)), head_dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(head_dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    return inv / f * ramp + inv * (1 - ramp), 0.1 * math.log(f) + 1.0


def head_dim_of(cfg):
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def make_float64_model(model32, theta):
    m = type(model32)(model32.config)
    m.load_state_dict(model32.state_dict())
    m = m.double()
    m.set_attn_implementation("eager")
    rot = m.model.rotary_emb
    rope, dim, n_pos = m.config.rope_parameters, head_dim_of(m.config), m.config.max_position_embeddings
    rot.inv_freq, rot.amplitude_f64 = scaled_rope_f64(theta, dim, rope, n_pos, n_pos)
    if rope["rope_type"] == "dynamic":  # stateless: each call's own length (transformers keeps its longest)
        rot.inv_freq_of_len = lambda seq_len: scaled_rope_f64(theta, dim, rope, seq_len, n_pos)[0]
    else:
        rot.inv_freq_of_len = lambda seq_len: rot.inv_freq
    rot.forward = _rotary_forward.__get__(rot)
    m.eval()
    return m


# --------------------------------------------------------------------------
# Independent float64 reference (used only for cross-checking)
# --------------------------------------------------------------------------
def ref_forward(w, cfg, ids, rope="half", scaled=True):
    H, KV, D = cfg.num_attention_heads, cfg.num_key_value_heads, head_dim_of(cfg)
    eps = cfg.rms_norm_eps
    Bn, Tn = ids.shape
    inv, amp = scaled_rope_f64(cfg.rope_parameters["rope_theta"], D, cfg.rope_parameters if scaled else None, Tn,
                               cfg.max_position_embeddings)
    ang = torch.arange(Tn, dtype=torch.float64)[:, None] * inv[None, :]  # (T, D/2)
    cos, sin = amp * ang.cos(), amp * ang.sin()

    def rms(x, g):
        return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rotate(x):  # x (B, h, T, D)
        if rope == "half":  # pairs (i, i + D/2)
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
        x1, x2 = x[..., 0::2], x[..., 1::2]  # interleaved pairs (2i, 2i+1)
        return torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)

    h = w["model.embed_tokens.weight"][ids]
    causal = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    window = getattr(cfg, "sliding_window", None)
    if window and cfg.model_type == "mistral":  # query t sees keys s with t - s < window
        causal &= torch.ones(Tn, Tn, dtype=torch.bool).triu(-(window - 1))

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        x = rms(h, w[p + "input_layernorm.weight"])
        q = lin(x, p + "self_attn.q_proj").view(Bn, Tn, H, D).transpose(1, 2)
        k = lin(x, p + "self_attn.k_proj").view(Bn, Tn, KV, D).transpose(1, 2)
        v = lin(x, p + "self_attn.v_proj").view(Bn, Tn, KV, D).transpose(1, 2)
        q, k = rotate(q), rotate(k)
        k = k.repeat_interleave(H // KV, dim=1)  # query head j uses kv head j // (H/KV)
        v = v.repeat_interleave(H // KV, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~causal, float("-inf")).softmax(-1)
        a = (s @ v).transpose(1, 2).reshape(Bn, Tn, H * D)
        h = h + lin(a, p + "self_attn.o_proj")
        x = rms(h, w[p + "post_attention_layernorm.weight"])
        g = lin(x, p + "mlp.gate_proj")
        u = lin(x, p + "mlp.up_proj")
        h = h + lin(F.silu(g) * u, p + "mlp.down_proj")
    h = rms(h, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if cfg.tie_word_embeddings else w["lm_head.weight"]
    return h @ head.T


def masked_ce(logits, targets):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long(), ignore_index=-100)


# --------------------------------------------------------------------------
def build_case(name, spec, out_dir):
    spec = dict(spec)
    seed = spec.pop("seed")
    theta = spec.pop("rope_theta")
    rope = dict(spec.pop("rope_scaling", {"rope_type": "default"}), rope_theta=theta)
    spec.setdefault("max_position_embeddings", 64)
    config_class, model_class = FAMILIES[spec.pop("family", "llama")]
    if config_class is LlamaConfig:
        spec.setdefault("attention_bias", False)
        spec.setdefault("mlp_bias", False)
    torch.manual_seed(seed)
    cfg = config_class(
        **spec,
        rope_parameters=rope,
        hidden_act="silu",
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    model = model_class(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in model.named_parameters():  # tied lm_head is the same tensor: listed once
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    model.eval()

    V = cfg.vocab_size
    input_ids = torch.randint(0, V, (B, T), generator=g, dtype=torch.int64)
    targets = torch.full((B, T), -100, dtype=torch.int64)
    targets[:, :-1] = input_ids[:, 1:]
    flat = torch.randperm(B * (T - 1), generator=g)[:N_EXTRA_MASKED]
    for f in flat.tolist():
        targets[f // (T - 1), f % (T - 1)] = -100

    # ---- float64 golden via (patched) transformers
    with Float64Patch():
        m64 = make_float64_model(model, theta)
        out = m64(input_ids=input_ids, use_cache=False)
        logits = out.logits
        loss = masked_ce(logits, targets)
        loss.backward()
        grads = {f"grad.{n}": p.grad.detach().clone() for n, p in m64.named_parameters()}

        # greedy decoding: manual argmax loop (no cache; with dynamic RoPE a KV cache, prompt then one token per
        # call, since the frequencies depend on each call's length) ...
        prompt = input_ids[0, :GREEDY_PROMPT].clone()
        seq = prompt.clone()
        step_logits, margins = [], []
        cached = rope["rope_type"] == "dynamic"
        with torch.no_grad():
            past, feed = None, prompt
            for _ in range(GREEDY_NEW):
                if cached:
                    out_step = m64(input_ids=feed[None], cache=past, use_cache=True)
                    past, lg = out_step.cache, out_step.logits[0, -1]
                else:
                    lg = m64(input_ids=seq[None], use_cache=False).logits[0, -1]
                top2 = lg.topk(2).values
                margins.append((top2[0] - top2[1]).item())
                step_logits.append(lg.clone())
                feed = lg.argmax().view(1)
                seq = torch.cat([seq, feed])
            greedy = seq[GREEDY_PROMPT:]
            # ... cross-checked with HF generate (KV cache path)
            gen = m64.generate(prompt[None], attention_mask=torch.ones(1, GREEDY_PROMPT, dtype=torch.long),
                               do_sample=False, max_new_tokens=GREEDY_NEW, min_new_tokens=GREEDY_NEW,
                               pad_token_id=0, eos_token_id=None)[0, GREEDY_PROMPT:]
        assert torch.equal(gen, greedy), (gen, greedy)
        assert min(margins) > 5e-3, f"{name}: near-tie in greedy decoding, margin {min(margins)}"
        assert len(set(greedy.tolist())) >= 4, f"{name}: degenerate greedy continuation {greedy.tolist()}"

    # ---- cross-checks
    if rope["rope_type"] != "default":
        n_pos = cfg.max_position_embeddings
        # dynamic: at call lengths below, at and above max_position_embeddings (T and the longest greedy call),
        # passed as a tensor as dynamic_rope_update does (max(position_ids) + 1)
        lengths = [2, n_pos, T, GREEDY_PROMPT + GREEDY_NEW - 1] if rope["rope_type"] == "dynamic" else [None]
        for seq_len in lengths:
            hf_inv, hf_amp = ROPE_INIT_FUNCTIONS[rope["rope_type"]](
                cfg, "cpu", **({} if seq_len is None else {"seq_len": torch.tensor(seq_len)}))
            ours, amp = scaled_rope_f64(theta, head_dim_of(cfg), rope, seq_len, n_pos)
            d_inv = ((hf_inv.double() - ours).abs() / ours).max().item()
            assert d_inv < 1e-6 and abs(hf_amp - amp) < 1e-12, \
                f"{name}: RoPE frequencies disagree at seq_len {seq_len}: {d_inv} {hf_amp} {amp}"
    w64 = {n: p.detach().double() for n, p in model.state_dict().items()}
    with torch.no_grad():
        ref = ref_forward(w64, cfg, input_ids, rope="half")
        ref_il = ref_forward(w64, cfg, input_ids, rope="interleaved")
        ref_unscaled = ref_forward(w64, cfg, input_ids, scaled=False)
        m64_stock = model_class(cfg)
        m64_stock.load_state_dict(model.state_dict())
        m64_stock = m64_stock.double().eval()
        m64_stock.set_attn_implementation("eager")
        stock = m64_stock(input_ids=input_ids, use_cache=False).logits
        if cached:  # transformers' own (stateful, float32) dynamic frequencies in generate agree with the golden's
            gen = m64_stock.generate(prompt[None], attention_mask=torch.ones(1, GREEDY_PROMPT, dtype=torch.long),
                                     do_sample=False, max_new_tokens=GREEDY_NEW, min_new_tokens=GREEDY_NEW,
                                     pad_token_id=0, eos_token_id=None, output_logits=True,
                                     return_dict_in_generate=True)
            assert torch.equal(gen.sequences[0, GREEDY_PROMPT:], greedy), (gen.sequences, greedy)
            d_gen = max(((a[0] - b).abs().max() / b.abs().max()).item() for a, b in zip(gen.logits, step_logits))
            assert d_gen < 1e-4, f"{name}: stock transformers' cached decoding disagrees: {d_gen}"
            print(f"{name}: stock transformers generate (KV cache) logits agree to {d_gen:.1e}")
    scale = logits.abs().max().item()
    d_ref = (ref - logits).abs().max().item() / scale
    d_il = (ref_il - logits).abs().max().item() / scale
    d_stock = (stock - logits).abs().max().item() / scale
    assert d_ref < 1e-12, f"{name}: independent float64 reference disagrees: {d_ref}"
    assert d_il > 1e-2, f"{name}: interleaved RoPE unexpectedly matches: {d_il}"
    d_unscaled = (ref_unscaled - logits).abs().max().item() / scale
    assert rope["rope_type"] == "default" or d_unscaled > 1e-2, f"{name}: the RoPE scaling has no effect: {d_unscaled}"
    assert d_stock < 1e-4, f"{name}: stock transformers disagrees: {d_stock}"

    # gradients vs. independent reference (autograd through ref_forward)
    wr = {n: t.clone().requires_grad_(True) for n, t in w64.items() if n != "lm_head.weight" or not cfg.tie_word_embeddings}
    masked_ce(ref_forward(wr, cfg, input_ids), targets).backward()
    d_grad = max((wr[n].grad - grads["grad." + n]).abs().max().item() / (grads["grad." + n].abs().max().item() + 1e-300)
                 for n in wr)
    assert d_grad < 1e-10, f"{name}: gradient cross-check failed {d_grad}"
    assert set("grad." + n for n in wr) == set(grads), (sorted(wr), sorted(grads))

    # ---- write
    case_dir = os.path.join(out_dir, name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    model.save_pretrained(case_dir, safe_serialization=True)
    tensors = {
        "input_ids": input_ids.to(torch.int32),
        "targets": targets.to(torch.int32),
        "logits": logits.detach().contiguous(),
        "loss": loss.detach().reshape(()).contiguous(),
        "greedy_prompt": prompt.to(torch.int32),
        "greedy_ids": greedy.to(torch.int32),
        "greedy_logits": torch.stack(step_logits).contiguous(),
    }
    tensors.update({k: v.contiguous() for k, v in grads.items()})
    save_file(tensors, os.path.join(case_dir, "golden.safetensors"),
              # one key only: safetensors writes metadata from an unordered map
              metadata={"generator": f"tools/make_golden_hf.py torch={torch.__version__} "
                                     f"transformers={transformers.__version__}"})
    n_valid = int((targets != -100).sum())
    print(f"{name:9s} params={sum(p.numel() for p in model.parameters()):6d} loss={loss.item():.6f} "
          f"valid={n_valid} |logits|max={scale:.2f} ref={d_ref:.1e} interleaved={d_il:.1e} "
          f"stock_hf={d_stock:.1e} grad={d_grad:.1e} greedy_margin_min={min(margins):.3g}"
          + (f" unscaled_rope={d_unscaled:.1e}" if rope["rope_type"] != "default" else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "golden", "hf"))
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with --out")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names (default: all)")
    args = ap.parse_args()
    names = args.cases.split(",")
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    setup_determinism()
    target = tempfile.mkdtemp() if args.check else args.out
    os.makedirs(target, exist_ok=True)
    for name in names:
        build_case(name, CASES[name], target)
    if args.check:
        bad = []
        for name in names:
            for f in sorted(os.listdir(os.path.join(target, name))):
                a, b = os.path.join(target, name, f), os.path.join(args.out, name, f)
                if not (os.path.exists(b) and filecmp.cmp(a, b, shallow=False)):
                    bad.append(f"{name}/{f}")
        shutil.rmtree(target)
        if bad:
            print("DIFFERENT:", *bad)
            sys.exit(1)
        print("identical to", args.out)


if __name__ == "__main__":
    main()
