#!/usr/bin/python3
"""Shows that the recipe is reproducible: train.py run twice from nothing, with the same
settings and thread count, writes byte-identical model files.

    /usr/bin/python3 tools/train-demo/check_reproducible.py [--threads N]

It runs every stage (random Qwen2, hybrid tokenizer, transformer + diffusion MLP, F16 export)
at a few steps, so it finishes in a minute or two on two cores; the full run takes the same
code path with more steps. A few steps are enough: a summation whose order changes from run to
run (PyTorch's threaded CPU backward of x[idx], once in this recipe) changes the weights' last
bits from the first step on. Identical bytes need the same torch build, thread count and CPU
instruction set (the BLAS kernels round differently on AVX-512 than on AVX2), which is why the
README records them for the shipped run. Exits 77 (skip) without Debian's python3-torch or
the shared/ reference data beside the checkout.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHORT = ["--vae-steps", "10", "--vae-batch", "4", "--gpt-steps", "4", "--gpt-batch", "4"]


def digests(out):
    """sha256 of every shipped file under out (the folders train.py assembles)."""
    sums = {}
    for sub in ("hart-demo-64px", "qwen2-demo"):
        for root, _, files in os.walk(os.path.join(out, sub)):
            for f in sorted(files):
                path = os.path.join(root, f)
                with open(path, "rb") as fh:
                    sums[os.path.relpath(path, out)] = hashlib.sha256(fh.read()).hexdigest()
    return sums


def train(out, threads):
    cmd = [sys.executable, os.path.join(HERE, "train.py"), "--out", out, "--threads", str(threads)] + SHORT
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return digests(out)


def main():
    try:
        import numpy  # noqa: F401
        import PIL  # noqa: F401
        import regex  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"SKIP: {e} (apt install python3-torch python3-pil python3-regex)")
        sys.exit(77)
    sys.path.insert(0, HERE)
    import textenc

    if not os.path.exists(textenc.TOKENIZER_JSON):
        print(f"SKIP: the Qwen2 tokenizer {textenc.TOKENIZER_JSON} (shared/ beside the checkout) is missing")
        sys.exit(77)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first = train(os.path.join(tmp, "a"), a.threads)
        second = train(os.path.join(tmp, "b"), a.threads)
    weights = [k for k in first if k.endswith(".safetensors")]
    if len(weights) != 3:
        sys.exit(f"expected 3 weight files (tokenizer, llm, qwen2), found {sorted(first)}")
    differ = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))
    for k in sorted(first):
        print(f"{first[k][:16]} {'==' if k not in differ else '!='} {second.get(k, 'missing')[:16]}  {k}")
    if differ:
        sys.exit(f"FAIL: two runs of the recipe differ in {differ}")
    print(f"reproducible: two runs wrote identical bytes for all {len(first)} files")


if __name__ == "__main__":
    main()
