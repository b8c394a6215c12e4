"""Proves hart_vae's torch modules compute what the engine computes, on the recorded golden tensors.

Loads shared/golden/{tiny,small}/tokenizer weights into hart_vae.Decoder / post_quant_conv / phi and
compares with modules.safetensors (decoder stages, bicubic up, area down) and run_smooth0 (phi blends
and next maps of every scale, the final f_hat and the decoded image). Prints the max abs error of
each check; exits 1 if any exceeds its tolerance.

    /usr/bin/python3 tools/train-demo/check_golden_vae.py [--golden /work/shared/golden]

--engine HART --tokenizer DIR: also decodes with the engine itself. An exported tokenizer (e.g. the
trained runs/vae/tokenizer) is put into a demo-shaped replay case (made by check_golden_gpt's
engine_roundtrip when --case does not exist yet), `hart replay --teacher-forcing` runs it, and
hart_vae's decode of the engine's own fhat_final must equal the engine's image: proves the export
loads and decodes in the engine exactly as in torch.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hart_vae as hv  # noqa: E402

# fp32 on CPU with the same torch as the recording: differences come from BLAS/thread order only
# (README "Determinism": 2 threads vs 1 moves dec.out by 4.5e-6; OpenBLAS by up to 2.7e-5 on dec.up0).
TOL = {"interp": 1e-5, "phi": 5e-5, "dec": 1e-4, "image": 5e-5}

failures = []


def cmp(case, name, got, want, kind):
    err = (got.float() - want.float()).abs().max().item()
    scale = want.abs().max().item()
    ok = err <= TOL[kind]
    print(f"  {case:6s} {name:28s} max|err| {err:.3e}  (|ref| max {scale:8.3f}, tol {TOL[kind]:.0e}) "
          f"{'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(f"{case}:{name}")


def load_vae(tok_dir, patch_nums):
    cfg = json.load(open(os.path.join(tok_dir, "config.json")))
    vcfg = dict(ch=cfg["ch"], ch_mult=cfg["ch_mult"], z_channels=cfg["z_channels"],
                vocab_size=cfg["vocab_size"], quant_resi=cfg["quant_resi"],
                share_quant_resi=cfg["share_quant_resi"])
    vae = hv.HartVAE(vcfg, patch_nums)
    sd = hv.load_safetensors(os.path.join(tok_dir, "model.safetensors"))
    want = vae.export_state_dict()
    mine = {k[len("vae."):]: v for k, v in sd.items() if k[len("vae."):] in
            {kk[len("vae."):] for kk in want}}
    missing = sorted(set(want) - {"vae." + k for k in mine})
    if missing:
        print(f"  missing keys in {tok_dir}: {missing[:5]} ...")
        failures.append(f"{tok_dir}: missing keys")
    res = vae.load_state_dict(mine, strict=False)
    unexpected = [k for k in res.unexpected_keys]
    assert not unexpected, unexpected
    # every exported key must exist in the golden with the same shape: the export layout is the release's
    for k, v in want.items():
        if k in sd and tuple(sd[k].shape) != tuple(v.shape):
            failures.append(f"{k}: shape {tuple(sd[k].shape)} vs {tuple(v.shape)}")
    vae.eval()
    return vae


@torch.no_grad()
def check_case(golden, case):
    d = os.path.join(golden, case)
    caseinfo = json.load(open(os.path.join(d, "llm", "config.json")))
    pns = caseinfo["patch_nums"]
    P = pns[-1]
    vae = load_vae(os.path.join(d, "tokenizer"), pns)
    mod = hv.load_safetensors(os.path.join(d, "modules.safetensors"))

    # resampling
    for pn in pns[:-1]:
        if f"interp.up{pn}.in" in mod:
            cmp(case, f"bicubic {pn}->{P}", hv.up_bicubic(mod[f"interp.up{pn}.in"], P),
                mod[f"interp.up{pn}.out"], "interp")
    for pn in pns:
        if f"interp.down{pn}.out" in mod:
            cmp(case, f"area {P}->{pn}", hv.down_area(mod["interp.down.in"], pn),
                mod[f"interp.down{pn}.out"], "interp")

    # decoder, stage by stage where recorded
    pq = vae.post_quant_conv(mod["dec.fhat"])
    cmp(case, "dec.pq", pq, mod["dec.pq"], "dec")
    trace = {}
    pre = vae.decoder(pq, trace=trace)
    for k, v in trace.items():
        if f"dec.{k}" in mod:
            cmp(case, f"dec.{k}", v, mod[f"dec.{k}"], "dec")
    if "dec.preclamp" in mod:
        cmp(case, "dec.preclamp", pre, mod["dec.preclamp"], "dec")
    cmp(case, "dec.out", pre.clamp(-1, 1), mod["dec.out"], "dec")

    # phi index rule, phi blends and next maps of the recorded run (teacher-forced per scale)
    run = hv.load_safetensors(os.path.join(d, "run_smooth0.safetensors"))
    rj = json.load(open(os.path.join(d, "run_smooth0.json")))
    SN = len(pns)
    for si in range(SN - 1):
        rec = rj["scales"][str(si)]["phi_index"]
        mine = hv.phi_index(si, SN, vae.quantize.n_phi)
        if rec != mine:
            failures.append(f"{case}: phi_index({si}) {mine} != recorded {rec}")
            print(f"  {case} phi_index({si}) = {mine}, recorded {rec}: FAIL")
    B = run["s00.h"].shape[0]
    f_hat = torch.zeros(B, 32, P, P)
    for si in range(SN - 1):
        h = run[f"s{si:02d}.h"]
        prev = f_hat if si == 0 else run[f"s{si - 1:02d}.fhat"]
        f_hat = prev + vae.quantize.phi(si)(hv.up_bicubic(h, P))
        cmp(case, f"s{si:02d}.fhat (phi {hv.phi_index(si, SN)})", f_hat, run[f"s{si:02d}.fhat"], "phi")
        cmp(case, f"s{si:02d}.next_map", hv.down_area(run[f"s{si:02d}.fhat"], pns[si + 1]),
            run[f"s{si:02d}.next_map"], "phi")
    # codebook lookup = h of the hard (more_smooth False) run
    for si in range(SN - 1):
        pn = pns[si]
        h = vae.quantize.embed(run[f"s{si:02d}.idx"], B, pn)
        cmp(case, f"s{si:02d}.h = codebook[idx]", h, run[f"s{si:02d}.h"], "interp")

    # last scale: tokens + diffusion residual added without phi, then the decoder
    last = f"s{SN - 1:02d}"
    tok = run[f"{last}.h_tokens"] + run["diff.out"][: B * P * P].reshape(B, P * P, 32)
    fin = run[f"s{SN - 2:02d}.fhat"] + tok.reshape(B, P, P, 32).permute(0, 3, 1, 2)
    cmp(case, "fhat_final", fin, run["fhat_final"], "phi")
    img = vae.decode(run["fhat_final"])
    if "image_pm1" in run:
        cmp(case, "image_pm1", img, run["image_pm1"], "image")
    cmp(case, "image", (img + 1) * 0.5, run["image"], "image")


@torch.no_grad()
def check_engine(hart_bin, tok_dir, case_dir):
    import shutil
    import subprocess

    if not os.path.isdir(case_dir):
        import check_golden_gpt

        check_golden_gpt.engine_roundtrip(hart_bin, case_dir)
    work = case_dir.rstrip("/") + "-vae"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(case_dir, work, ignore=shutil.ignore_patterns("engine", "tokenizer"))
    shutil.copytree(tok_dir, os.path.join(work, "tokenizer"))
    out = os.path.join(work, "engine")
    cmd = [hart_bin, "replay", "--teacher-forcing", "-t", "1", "-o", out, work, "run_smooth0"]
    print("$ " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
        failures.append("hart replay")
        return
    eng = hv.load_safetensors(os.path.join(out, "run.safetensors"))
    cfg = json.load(open(os.path.join(tok_dir, "config.json")))
    vae = load_vae(tok_dir, cfg["v_patch_nums"])
    img = vae.decode(eng["fhat_final"])
    cmp("engine", "image (trained tokenizer)", (img + 1) * 0.5, eng["image"], "image")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", default="/work/shared/golden")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", default=None, help="hart binary: also compare with the engine's decode")
    ap.add_argument("--tokenizer", default="runs/vae/tokenizer", help="exported tokenizer/ for --engine")
    ap.add_argument("--case", default="/tmp/hart-gpt-engine-check", help="demo-shaped replay case")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.engine:
        print("engine:")
        check_engine(a.engine, a.tokenizer, a.case)
    for case in ("tiny", "small"):
        print(f"{case}:")
        check_case(a.golden, case)
    SN = len(hv.config.PATCH_NUMS)
    print("demo phi indices (PATCH_NUMS %s): %s" % (hv.config.PATCH_NUMS,
                                                    [hv.phi_index(si, SN) for si in range(SN - 1)]))
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all VAE checks passed")


if __name__ == "__main__":
    main()
