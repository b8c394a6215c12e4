#!/usr/bin/python3
"""Trains the demo model from nothing and writes it in the release's folder layout.

    /usr/bin/python3 tools/train-demo/train.py --out runs/demo

Stages (each resumable: a finished stage's output is reused when it is already there):
  1. qwen2-demo/: the seeded random Qwen2 text encoder (frozen) + the real Qwen2 tokenizer.json
  2. vae/: the hybrid tokenizer (encoder, multi-scale residual quantizer, decoder)
  3. gpt/: the scale-wise transformer + residual diffusion MLP, teacher-forced on VAE tokens
  4. OUT/hart-demo-64px/{llm,tokenizer} and OUT/qwen2-demo: the shippable folders, the HART weights
     stored as F16 (the engine computes in fp16 on CUDA anyway; this halves the download-free
     footprint), then a check that `hart generate` runs on them when a built `hart` is given.

Copy OUT/hart-demo-64px and OUT/qwen2-demo into data/demo-model/ to ship them.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import config  # noqa: E402
import hart_gpt  # noqa: E402
import hart_vae  # noqa: E402
import textenc  # noqa: E402


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def to_f16_file(src, dst):
    """Rewrites a safetensors file with every floating tensor as F16 (integer buffers kept)."""
    tensors = textenc.read_safetensors(src)
    out = {k: (v.half() if v.is_floating_point() else v) for k, v in tensors.items()}
    hart_gpt.save_safetensors(out, dst)


def assemble(out, vae_dir, gpt_dir, qwen_dir):
    hart_dir = os.path.join(out, config.HART_DIR)
    for sub, src in (("tokenizer", os.path.join(vae_dir, "tokenizer")), ("llm", os.path.join(gpt_dir, "llm"))):
        d = os.path.join(hart_dir, sub)
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(os.path.join(src, "config.json"), os.path.join(d, "config.json"))
        to_f16_file(os.path.join(src, "model.safetensors"), os.path.join(d, "model.safetensors"))
    final_qwen = os.path.join(out, config.QWEN_DIR)
    if os.path.abspath(final_qwen) != os.path.abspath(qwen_dir):
        shutil.copytree(qwen_dir, final_qwen, dirs_exist_ok=True)
    total = 0
    for root, _, files in os.walk(out):
        if root.startswith((hart_dir, final_qwen)):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    log(f"assembled {hart_dir} and {final_qwen}: {total / 1e6:.1f} MB in all")
    return hart_dir, final_qwen


def smoke_generate(hart, hart_dir, qwen_dir, out):
    png = os.path.join(out, "sample.png")
    cmd = [hart, "generate", "-m", hart_dir, "--text-model", qwen_dir, "-p",
           "a big red circle in the center on a blue background", "--seed", "1", "-o", png]
    subprocess.run(cmd, check=True)
    log(f"hart generate wrote {png}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--vae-steps", type=int, default=3000)
    ap.add_argument("--vae-batch", type=int, default=8)
    ap.add_argument("--gpt-steps", type=int, default=2200)
    ap.add_argument("--gpt-batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--balanced-from", type=int, default=0,
                    help="transformer step from which every scale's loss weighs the same")
    ap.add_argument("--hart", help="a built hart executable, to check the result generates")
    a = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    qwen_dir = os.path.join(a.out, config.QWEN_DIR)
    vae_dir = os.path.join(a.out, "vae")
    gpt_dir = os.path.join(a.out, "gpt")
    times = {}

    if not os.path.exists(os.path.join(qwen_dir, "model.safetensors")):
        textenc.make_random_qwen2(qwen_dir)
    log(f"text encoder: {qwen_dir}")

    t = time.time()
    if not os.path.exists(os.path.join(vae_dir, "tokenizer", "model.safetensors")):
        hart_vae.train_vae(a.vae_steps, a.vae_batch, vae_dir, log=log, threads=a.threads)
    times["vae_s"] = round(time.time() - t)
    vae = hart_vae.load_checkpoint(os.path.join(vae_dir, "vae.pt"))

    t = time.time()
    if not os.path.exists(os.path.join(gpt_dir, "llm", "model.safetensors")):
        te = textenc.TextEncoder(qwen_dir)
        model, ema = hart_gpt.train_gpt(vae, te, a.gpt_steps, a.gpt_batch, gpt_dir, log=log, threads=a.threads,
                                             ckpt_every=100, balanced_from=a.balanced_from)
        hart_gpt.export_llm(model, os.path.join(gpt_dir, "llm"), ema)
    times["gpt_s"] = round(time.time() - t)

    hart_dir, final_qwen = assemble(a.out, vae_dir, gpt_dir, qwen_dir)
    if a.hart:
        smoke_generate(a.hart, hart_dir, final_qwen, a.out)
    times["total_s"] = round(time.time() - t0)
    info = dict(times, balanced_from=a.balanced_from, vae_steps=a.vae_steps, vae_batch=a.vae_batch, gpt_steps=a.gpt_steps,
                gpt_batch=a.gpt_batch, threads=a.threads, torch=torch.__version__,
                device="cuda" if torch.cuda.is_available() else "cpu")
    with open(os.path.join(a.out, "train-info.json"), "w") as f:
        json.dump(info, f, indent=2)
    log(f"done: {info}")


if __name__ == "__main__":
    main()
