#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden ids of the chat formats (pmc's --chat-format llama3, chatml, mistral) from transformers.

    python3 tools/make_chat_format_golden.py

Runs transformers' apply_chat_template with each model family's own Jinja template (copied below from the
published tokenizer_config.json files: Meta-Llama-3-8B-Instruct, ChatML as Qwen2 writes it without its default
system prompt, Mistral-7B-Instruct-v0.1) over the tokenizer.json files of tests/golden/tokenizer_json/ (made by
tools/make_tokenizer_json_golden.py) and writes tests/golden/tokenizer_json/chat_formats.jsonl: one line per
(format, conversation) with the ids of the whole conversation and of the generation prompt
(add_generation_prompt=True) for the conversation without its last assistant turn.
Made with transformers 5.24 and tokenizers 0.23.3.
"""
import json
import pathlib

from transformers import PreTrainedTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "tokenizer_json"

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

FORMATS = {
    # format: (tokenizer file stem, template, bos, eos, system allowed)
    "llama3": ("llama3_style", LLAMA3, "<|begin_of_text|>", "<|eot_id|>", True),
    "chatml": ("qwen2_style", CHATML, None, "<|im_end|>", True),
    "mistral": ("sentencepiece_style", MISTRAL, "<s>", "</s>", False),
    "mistral_metaspace": ("metaspace_style", MISTRAL, "<s>", "</s>", False),
}

CONVERSATIONS = [
    [{"role": "user", "content": "What is the first-line drug for type 2 diabetes?"},
     {"role": "assistant", "content": "Metformin, unless it is contraindicated."}],
    [{"role": "system", "content": "You are a careful medical assistant."},
     {"role": "user", "content": "  Define tachycardia.  "},
     {"role": "assistant", "content": "A resting heart rate above 100 beats per minute.\n"}],
    [{"role": "user", "content": "Dose of amoxicillin for otitis media in a 20 kg child?"},
     {"role": "assistant", "content": "80-90 mg/kg/day, divided twice daily: 800-900 mg every 12 h."},
     {"role": "user", "content": "And if penicillin-allergic?"},
     {"role": "assistant", "content": "Consider cefdinir (14 mg/kg/day) or azithromycin."}],
    [{"role": "user", "content": "Ελληνικά και русский текст: ποιο είναι το φάρμακο;"},
     {"role": "assistant", "content": "Ответ: метформин 🙂"}],
    [{"role": "user", "content": "###Question: A 45-year-old man...\n###Options:\nA. x\nB. y"},
     {"role": "assistant", "content": "###Answer: OPTION B IS CORRECT."}],
]


def ids_of(result):
    if isinstance(result, dict) or hasattr(result, "keys"):
        result = result["input_ids"]
    return [int(i) for i in result]


def main():
    lines = []
    for fmt, (stem, template, bos, eos, system_ok) in FORMATS.items():
        tok = PreTrainedTokenizerFast(tokenizer_file=str(GOLDEN / f"{stem}.json"), bos_token=bos, eos_token=eos)
        for i, conv in enumerate(CONVERSATIONS):
            if not system_ok and any(m["role"] == "system" for m in conv):
                continue
            full = ids_of(tok.apply_chat_template(conv, chat_template=template, tokenize=True))
            prompt = ids_of(tok.apply_chat_template(conv[:-1], chat_template=template, tokenize=True,
                                                    add_generation_prompt=True))
            lines.append({"format": fmt.split("_")[0], "tokenizer": stem, "conversation": i, "messages": conv,
                          "ids": full, "generation_prompt": prompt})
    out = GOLDEN / "chat_formats.jsonl"
    out.write_text("".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines), encoding="utf-8")
    print(f"wrote {out} ({len(lines)} conversations)")


if __name__ == "__main__":
    main()
