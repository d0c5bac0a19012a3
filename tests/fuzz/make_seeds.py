#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpora of tests/fuzz/corpus/<target>/: a few small valid and invalid inputs per target.
#   python3 tests/fuzz/make_seeds.py tests/fuzz/corpus
import struct, json, os, sys
root = sys.argv[1]
def w(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f: f.write(data if isinstance(data, bytes) else data.encode())

# token files: "PMCTOKS1" u32 width u32 flags u64 n_tokens u64 n_docs tokens starts [mask]
def tokfile(docs, width=2, mask=None):
    starts=[0]
    for d in docs: starts.append(starts[-1]+len(d))
    b = b'PMCTOKS1' + struct.pack('<IIQQ', width, 1 if mask else 0, starts[-1], len(docs))
    for d in docs:
        for t in d: b += struct.pack('<H' if width==2 else '<I', t)
    b += b''.join(struct.pack('<Q', s) for s in starts)
    if mask: b += bytes(mask)
    return b
w('token_file','two_docs_u16', tokfile([[1,5,6,2],[1,7,2]]))
w('token_file','one_doc_u32_mask', tokfile([[1,70000,3,2]], 4, [0,0,1,1]))
w('token_file','empty', tokfile([]))
# 2^63 two-byte tokens: 2^64 bytes wrap to 0, so the size matched (read out of bounds before the fix)
w('token_file','wrapped_count', b'PMCTOKS1' + struct.pack('<IIQQ', 2, 0, 1 << 63, 1) + struct.pack('<QQ', 0, 1 << 63))
# (2^61 - 1) + 1 offsets of 8 bytes wrap to 0
w('token_file','wrapped_docs', b'PMCTOKS1' + struct.pack('<IIQQ', 2, 0, 0, (1 << 61) - 1))
w('token_file','bad_offsets', tokfile([[1,2],[3]])[:-8] + struct.pack('<Q', 9))

# safetensors: u64 header length, JSON header, data
def st(header, data):
    h = json.dumps(header).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + data
w('safetensors','f32_bf16', st({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
   "b":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]}}, struct.pack('<ff', 1.5, -2) + b'\x80\x3f\x00\x40'))
w('safetensors','i32_f16_empty', st({"c":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},"d":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]}}, struct.pack('<i', 7)))
w('safetensors','overlap', st({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}, b'\0'*4))
w('safetensors','short', b'\x10\0\0\0\0\0\0\0{}')

# llama2.c v0: 7 int32 then float32 weights; tiny dim 4 hidden 4 layers 1 heads 2 kv 2 vocab 3 seq 2, shared
dim, hid, L, H, KV, V, S = 4, 4, 1, 2, 2, 3, 2
Dh = dim // H
n = V*dim + L*dim + L*dim*dim + 2*L*(KV*Dh)*dim + L*dim*dim + L*dim + 3*L*hid*dim + dim + S*Dh
w('llama2c','tiny_shared', struct.pack('<7i', dim, hid, L, H, KV, V, S) + struct.pack('<%df' % n, *[0.01*i for i in range(n)]))
w('llama2c','tiny_separate_truncated', struct.pack('<7i', dim, hid, L, H, KV, -V, S) + b'\0' * 40)
w('llama2c','versioned', b'ak42' + struct.pack('<6i', 1, 0, 0, 0, 0, 0))

# SentencePiece ModelProto (BPE): pieces (1: piece 1, score 2, type 3), trainer_spec 2 (model_type 3 = 2 BPE,
# byte_fallback 35), normalizer_spec 3 (name 1, add_dummy_prefix 3)
def varint(v):
    out = b''
    while v >= 0x80: out += bytes([(v & 0x7f) | 0x80]); v >>= 7
    return out + bytes([v])
def key(f, wt): return varint(f << 3 | wt)
def ld(f, b): return key(f, 2) + varint(len(b)) + b
def piece(p, score, typ=1):
    b = ld(1, p.encode()) + key(2, 5) + struct.pack('<f', score)
    if typ != 1: b += key(3, 0) + varint(typ)
    return ld(1, b)
pieces = [('<unk>', 0, 2), ('<s>', 0, 3), ('</s>', 0, 3)] + [('<0x%02X>' % i, 0, 6) for i in range(256)] + \
         [('\u2581a', -1, 1), ('sp', -2, 1), ('ir', -3, 1), ('\u2581', -4, 1), ('a', -5, 1), ('s', -6, 1), ('p', -7, 1), ('i', -8, 1), ('r', -9, 1), ('n', -10, 1)]
ts = key(3, 0) + varint(2) + key(35, 0) + varint(1)
ns = ld(1, b'identity') + key(3, 0) + varint(1)
model = b''.join(piece(*p) for p in pieces) + ld(2, ts) + ld(3, ns)
w('sentencepiece','bpe_byte_fallback', model)
small = b''.join(piece(*p) for p in pieces[:3] + pieces[-10:]) + ld(2, key(3, 0) + varint(2)) + ld(3, ns)
w('sentencepiece','bpe_small', small)
w('sentencepiece','unigram', b''.join(piece(*p) for p in pieces[:3]) + ld(2, key(3, 0) + varint(1)))
w('sentencepiece','truncated', small[:-5])

# HF config.json
cfg = {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":172,
       "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":512,
       "max_position_embeddings":128,"rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":False,
       "torch_dtype":"float32","bos_token_id":1,"eos_token_id":2}
w('hf_config','llama', json.dumps(cfg, indent=1))
w('hf_config','rope_parameters', json.dumps({k: v for k, v in cfg.items() if k != 'rope_theta'} | {"rope_parameters": {"rope_theta": 5e5, "rope_type": "default"}, "eos_token_id": [2, 3]}))
w('hf_config','bad_heads', json.dumps(cfg | {"num_attention_heads": 5}))
w('hf_config','overflow', '{"hidden_size": 1e400}')

# benchmarks
w('medqa','valid.jsonl', '{"question": "A 23-year-old ... Which is the cause?", "answer": "Iron", "options": {"A": "Iron", "B": "Zinc", "C": "B12", "D": "Folate"}, "meta_info": "step1", "answer_idx": "A"}\n'
  '{"question": "Q2", "options": {"A": "x", "B": "y"}, "answer_idx": "E"}\n')
w('medqa','bad.jsonl', '{"question": 1e400, "options": ["a"]}\n[1,2]\n{"question"\n')
w('medmcqa','valid.jsonl', '{"id": "e9ad821a", "question": "Chronic urethral obstruction ...", "opa": "Hyperplasia", "opb": "Hypertrophy", "opc": "Atrophy", "opd": "Dyplasia", "cop": 3, "subject_name": "Anatomy"}\n'
  '{"id": 7, "question": "Q", "opa": 1, "opb": "b", "opc": "c", "opd": "d", "cop": "9"}\n')
w('medmcqa','bad.jsonl', '{"question": "Q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 18446744073709551617}\n{"cop": -1}\n')
w('mcq','valid.jsonl', '{"question": "Q", "options": ["a", "b", "c"], "answer": "B", "context": "c", "subject": "s"}\n{"question": "Q", "options": {"A": 1, "B": true}, "answer": 1}\n')
w('mcq','bad.jsonl', '{"question": "Q", "options": {"A": "a", "Z": "z"}, "answer": 9223372036854775807}\n{"question": "Q", "options": [], "answer": null}\n')
w('pubmedqa','ori_pqal.json', json.dumps({"21645374": {"QUESTION": "Do mitochondria play a role?", "CONTEXTS": ["Programmed cell death.", "Results."], "final_decision": "yes"},
   "16418930": {"QUESTION": "Q2", "CONTEXTS": [], "final_decision": "perhaps"}}))
w('pubmedqa','truth_shaped.json', json.dumps({"21645374": "yes", "16418930": "maybe", "1": 3}))
w('pubmedqa','bad.json', '{"1": {"QUESTION": 1e400}}')
w('mmlu','valid.csv', 'What is the largest organ?,Liver,Skin,Heart,Lung,B\n"Quoted, with ""quotes""\nand a newline",a,b,c,d,A\r\n')
w('mmlu','bad.csv', 'q,a,b,c,d,E\nq,a,b\n"never closed,a\n')

# instruction and corpus JSONL, metrics.jsonl
w('instruction','valid.jsonl', '{"instruction": "Answer the question.", "input": "What causes scurvy?", "output": "Vitamin C deficiency.", "source": "medqa"}\n'
  '{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}], "source": "chat"}\n'
  '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}\n')
w('instruction','bad.jsonl', '{"conversations": [{"from": 1, "value": "x"}]}\n{"instruction": 1e400, "output": "o"}\n{"messages": []}\n')
w('corpus','valid.jsonl', '{"text": "Aspirin irreversibly inhibits cyclooxygenase."}\n\n{"text": "Second document.\\nTwo lines."}\n')
w('corpus','plain.txt', 'First paragraph,\nstill the first.\r\n\r\nSecond paragraph.\n')
w('corpus','bad.jsonl', '{"text": 1e400}\n{"txt": "x"}\n')
w('metrics','run.jsonl', '{"step": 1, "loss": 5.2, "lr": 0.0003, "grad_norm": 1.1, "tokens_per_s": 900, "epoch": 0}\n'
  '{"step": 2, "loss": null, "lr": 0.0003, "grad_norm": 1.0, "tokens_per_s": 910, "epoch": 0, "eval_loss": 5.0}\n{"step": 3, "loss": 4.')
w('metrics','bad.jsonl', '{"step": 1e400, "loss": 1}\n{"loss": "x", "step": 2}\n')

# checkpoint: the first byte chooses the file (even: trainer.json, odd: manifest.json), the rest is its text
state = {"step": 1, "optimizer_step": 1, "epoch": 0, "index": 1, "seed": 0, "config": "c", "precision": "fp32",
         "param_steps": {"w": 1}}
w('checkpoint', 'state_valid.json', b'\x00' + json.dumps(state).encode())
w('checkpoint', 'state_bad.json', b'\x00' + json.dumps(dict(state, step=-3, index=99, param_steps={"w": 5})).encode())
w('checkpoint', 'manifest_bad.json', b'\x01' + json.dumps({"files": {
    "model.safetensors": {"bytes": 1, "crc32c": "00000000"}, "optimizer.safetensors": {"bytes": 0, "crc32c": "zz"},
    "trainer.json": {"bytes": 18446744073709551615, "crc32c": "0"}}}).encode())

# tokenizer.json: a byte-level BPE in Llama-3's layout and a SentencePiece-style one, both tiny, and broken ones
def byte_level_alphabet():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return [chr(c) for c in cs]
alpha = byte_level_alphabet()
vocab = {c: i for i, c in enumerate(alpha)}
for m in ['Ġt', 'Ġa', 'in', 'Ġth', 'er']:
    vocab[m] = len(vocab)
llama3_regex = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
byte_level = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 261, "content": "<|begin_of_text|>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True},
                     {"id": 262, "content": "[MASKED]", "single_word": True, "lstrip": True, "rstrip": True,
                      "normalized": True, "special": False}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": llama3_regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {
                       "<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [261], "tokens": ["<|begin_of_text|>"]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
              "vocab": vocab, "merges": [["Ġ", "t"], ["Ġ", "a"], ["i", "n"], ["Ġt", "h"], "e r"]}}
w('tokenizer_json', 'byte_level.json', json.dumps(byte_level, ensure_ascii=False))
sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    sp_vocab["<0x%02X>" % b] = len(sp_vocab)
for p in ["▁", "a", "b", "▁a", "ab", "▁ab"]:
    sp_vocab[p] = len(sp_vocab)
sp_style = {
    "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
    "post_processor": None,
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0},
                {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True, "vocab": sp_vocab,
              "merges": [["▁", "a"], ["a", "b"], ["▁a", "b"]]}}
w('tokenizer_json', 'sentencepiece_style.json', json.dumps(sp_style, ensure_ascii=False))
w('tokenizer_json', 'gpt2.json', json.dumps(dict(byte_level, normalizer=None, pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}), ensure_ascii=False))
w('tokenizer_json', 'bad_merge.json', json.dumps(dict(byte_level, model=dict(byte_level["model"], merges=[["zz", "q"]]))))
w('tokenizer_json', 'cut.json', json.dumps(byte_level)[:300])
w('tokenizer_json', 'sparse_ids.json', json.dumps(dict(byte_level, added_tokens=[dict(byte_level["added_tokens"][0], id=277777777)])))

# GGUF: the golden files of tools/make_golden_gguf.py (small ones whole; a large one cut to its header and
# first tensors' infos), plus a minimal hand-made file: magic, version 3, 1 tensor, 2 metadata entries
gguf_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'golden', 'gguf')
for name in ('types.gguf', 'gqa32_q4_0.gguf'):
    with open(os.path.join(gguf_dir, name), 'rb') as f: data = f.read()
    w('gguf', name.replace('.gguf', ''), data[:8192])
def gstr(s): return struct.pack('<Q', len(s)) + s.encode()
g = b'GGUF' + struct.pack('<IQQ', 3, 1, 2)
g += gstr('general.alignment') + struct.pack('<II', 4, 16)
g += gstr('a.array') + struct.pack('<IIQ', 9, 9, 2) + struct.pack('<IQ', 0, 2) + b'\x01\x02' + struct.pack('<IQ', 8, 1) + gstr('x')
g += gstr('w') + struct.pack('<I', 2) + struct.pack('<QQ', 32, 1) + struct.pack('<IQ', 8, 0)
g += b'\0' * ((16 - len(g) % 16) % 16)
g += struct.pack('<e', 0.5) + bytes(range(32))
w('gguf', 'minimal_q8_0', g)
w('gguf', 'minimal_v2_truncated', g[:4] + struct.pack('<I', 2) + g[8:-10])

# peft_adapter: adapter_config.json beside a valid rank-2 adapter on all seven projections
peft = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 16, "lora_dropout": 0.0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "use_rslora": False, "bias": "none", "fan_in_fan_out": False, "use_dora": False, "modules_to_save": None,
        "layers_to_transform": None, "rank_pattern": {}, "alpha_pattern": {}}
w('peft_adapter', 'all', json.dumps(peft, indent=2))
w('peft_adapter', 'qv_rank4', json.dumps(peft | {"r": 4, "target_modules": ["q_proj", "v_proj"]}))
w('peft_adapter', 'string_target', json.dumps(peft | {"target_modules": "q_proj"}))
w('peft_adapter', 'bias_all', json.dumps(peft | {"bias": "all"}))
w('peft_adapter', 'huge_rank', json.dumps(peft | {"r": 1 << 40}))
