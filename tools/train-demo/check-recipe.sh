#!/usr/bin/env bash
# check-recipe.sh HART SHARED: the recipe's own checks, as the meson test `train-demo-recipe` runs
# them. They prove that the PyTorch mirror trains what the engine computes:
#   - test_data.py: the tokenizer and the random Qwen2 against shared/text and `hart encode`, the
#     scenes' determinism and held-out split;
#   - check_golden_vae.py / check_golden_gpt.py: the torch modules against the official recordings
#     in shared/golden (tiny, small), and a demo-shaped export replayed by `hart` against torch.
# (check_reproducible.py, the whole recipe twice, is the meson test `train-demo-reproducible`.)
# Needs Debian's python3-torch; exits 77 (skip) without it, so CI does not have to install it.
set -euo pipefail
hart=$1
shared=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if ! "$py" -c "import torch, numpy, PIL, regex" 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 lacks torch/numpy/PIL/regex (apt install python3-torch python3-pil python3-regex)"
  exit 77
fi
if [ ! -f "$shared/text/tokenizer.json" ] || [ ! -d "$shared/golden/tiny" ]; then
  echo "SKIP: the reference data $shared (text/, golden/) is missing"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
HART="$hart" "$py" "$here/test_data.py"
"$py" "$here/check_golden_vae.py" --golden "$shared/golden"
"$py" "$here/check_golden_gpt.py" "$shared/golden/tiny"
"$py" "$here/check_golden_gpt.py" "$shared/golden/small"
"$py" "$here/check_golden_gpt.py" --engine "$hart" "$work/gpt-case"
echo "train-demo recipe checks: PASS"
