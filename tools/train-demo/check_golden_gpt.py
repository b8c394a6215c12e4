"""Proves hart_gpt.py computes what the engine (and the official code) computes.

Loads ../shared/golden/tiny (release path, fp32 CPU recordings of the official HART) into HartGPT and
compares the *teacher-forced, block-masked, whole-sequence* forward with the recorded KV-cached
inference, stage by stage (golden README 7.3: the inputs of scale k are the recorded next_map of
scale k-1). Also the single-block KV-cache vectors (three calls that skip a scale), the RoPE tables,
the diffusion MLP, the diffusion condition and the cosine schedule.

Tolerance: |ours - ref| <= 1e-4 * max(1, max|ref|) per tensor (fp32 vs fp32 with another summation
order; the golden README measures ~3e-5 between BLAS builds). Exits 1 on any failure.

Usage: /usr/bin/python3 tools/train-demo/check_golden_gpt.py [golden_case_dir]
       /usr/bin/python3 tools/train-demo/check_golden_gpt.py --engine build/engine/hart [work_dir]

--engine: the demo configuration itself (config.GPT, PATCH_NUMS = 1,2,3,4,5,6,8, head_dim 64, a
random-weight HartGPT and HartVAE exported with export_llm / export_tokenizer) is written as a golden
case, replayed by the engine (`hart replay --teacher-forcing`) and the engine's dumps (x_in, hidden,
CFG logits at the kept ids, diff.z, diffusion sample) are compared with this torch code, including a
torch version of the 8-step IDDPM sampler (spec 1.8) with v = 0 from the frozen variance rows. The
sample is compared per element with 1e-3, allowing 0.5% outliers (the clamp at t=999, spec 2.7).
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hart_gpt as hg  # noqa: E402

REL_TOL = 1e-4
failures = []


def cmp(name, ours, ref, tol=REL_TOL):
    if ref is None:  # not recorded in this case (the small case has no "dense" extras)
        print("%-28s not recorded, skipped" % name)
        return
    ours, ref = ours.detach().double(), ref.detach().double()
    assert ours.shape == ref.shape, (name, tuple(ours.shape), tuple(ref.shape))
    err = (ours - ref).abs().max().item()
    lim = tol * max(1.0, ref.abs().max().item())
    ok = err <= lim
    print("%-28s max_abs_err %.3e  (limit %.1e, |ref| max %.3g)  %s" % (name, err, lim, ref.abs().max().item(),
                                                                       "ok" if ok else "FAIL"))
    if not ok:
        failures.append(name)


def main():
    torch.set_num_threads(1)
    case = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../../shared/golden/tiny")
    if not os.path.isdir(case):
        case = "/work/shared/golden/tiny"
    m = hg.load_llm(os.path.join(case, "llm")).eval()
    inp = hg.load_safetensors(os.path.join(case, "inputs.safetensors"))
    run = hg.load_safetensors(os.path.join(case, "run_smooth0.safetensors"))
    mod = hg.load_safetensors(os.path.join(case, "modules.safetensors"))
    tok = hg.load_safetensors(os.path.join(case, "tokenizer/model.safetensors"))
    with open(os.path.join(case, "run_smooth0.json")) as f:
        rj = json.load(f)
    codebook = tok["vae.quantize.embedding.weight"]
    pns, SN, ct = m.pns, m.SN, m.ct
    B = inp["context"].shape[0]
    print("case %s: patch_nums %s, C %d, heads %d, depth %d, ct %d" % (case, pns, m.C, m.H, len(m.blocks), ct))

    # Key set: what load_llm consumed must be exactly the file's keys (strict load above) and ours.
    file_keys = set(hg.load_safetensors(os.path.join(case, "llm/model.safetensors")))
    own_keys = set(m.state_dict())
    if "attn_bias_for_masking" not in file_keys:  # training-only buffer, omitted in "small"
        own_keys.discard("attn_bias_for_masking")
    if file_keys != own_keys:
        print("key sets differ:", sorted(file_keys ^ own_keys))
        failures.append("keys")
    else:
        print("state-dict keys: identical to llm/model.safetensors (%d)" % len(own_keys))
    cfg_keys = set(json.load(open(os.path.join(case, "llm/config.json"))))
    our_cfg = set(m.llm_config({}))
    if cfg_keys != our_cfg:
        print("config keys differ:", sorted(cfg_keys ^ our_cfg))
        failures.append("config keys")
    else:
        print("config.json keys: identical (%d)" % len(cfg_keys))

    with torch.no_grad():
        # CFG doubling as the reference (spec 1.4): [cond rows; null rows].
        ctx = torch.cat([inp["context"], torch.zeros_like(inp["context"])])
        pos = torch.cat([inp["context_position_ids"], torch.zeros_like(inp["context_position_ids"])])
        mask = torch.cat([inp["context_mask"], torch.zeros_like(inp["context_mask"])])
        cmp("ctx_norm_out", m.context_norm(ctx), run["ctx_norm_out"])
        # Teacher-forced inputs of scales 1..SN-1: the recorded next_map of the previous scale.
        ins = []
        for k in range(1, SN):
            nm = run["s%02d.next_map" % (k - 1)]  # [B, Cv, pn, pn]
            t = nm.flatten(2).transpose(1, 2)
            ins.append(torch.cat([t, t]))  # the same token maps feed both halves
        tr = {}
        x, cond = m.forward_seq(ctx, pos, ins, trace=tr)
        cmp("cond_BD", cond, run["cond_BD"])
        cmp("lvl_table", tr["lvl"], run["lvl_table"])
        cmp("lvl_pos", tr["lvl"][m.lvl_1L[0]][None], run.get("lvl_pos"))
        # Slots of each stage in the whole sequence.
        spans, a = [(0, ct)], ct
        for pn in pns[1:]:
            spans.append((a, a + pn * pn))
            a += pn * pn
        logits = m.logits_of(x, cond)
        z_ref = run["diff.z"]
        for si in range(SN):
            s, e = spans[si]
            cmp("s%02d.x_in" % si, tr["x_in"][:, s:e], run.get("s%02d.x_in" % si))
            cmp("s%02d.block0_out" % si, tr["block0"][:, s:e], run.get("s%02d.block0_out" % si))
            cmp("s%02d.hidden" % si, x[:, s:e], run["s%02d.hidden" % si])
            t = rj["scales"][str(si)]["cfg_t"]
            lg = logits[:, s:e]
            g = (1 + t) * lg[:B] - t * lg[B:]
            if si == 0:
                g = g[:, ct - 1:ct]
            cmp("s%02d.logits_cfg" % si, g, run.get("s%02d.logits_cfg" % si))
            keep = run["s%02d.keep_idx" % si].long()
            cmp("s%02d.keep_logit" % si, g.gather(-1, keep), run["s%02d.keep_logit" % si])
        # Diffusion condition of the last scale with the hard (recorded) indices.
        s, e = spans[-1]
        idx = run["s%02d.idx" % (SN - 1)]
        zc = m.word_embed(codebook[idx])
        z = m.decoder_norm(x[:, s:e] + torch.cat([zc, zc]))
        cmp("diff.z", z.reshape(-1, m.C), z_ref)
        # forward_train (eval, no dropout) gives the same z and logits: the training path itself.
        idx_list = [run["s%02d.idx" % k] for k in range(SN)]
        out = m.forward_train(ctx[:B], mask[:B], pos[:B], [i[:B] for i in ins], idx_list, codebook=codebook)
        cmp("forward_train z_last", out["z_last"].reshape(-1, m.C), z_ref[: B * pns[-1] ** 2])
        cmp("forward_train logits s03", out["logits"][:, 1 + sum(p * p for p in pns[1:-1]):], logits[:B, s:e])

        # RoPE tables: our per-slot tables vs the recorded naive-path tables (first hd/2... all hd).
        hd = m.hd
        c1, s1 = hg.rope1d_tables(mod["rope1d.pos"], hd)
        cmp("rope1d.cos", c1, mod["rope1d.cos"])
        cmp("rope1d.sin", s1, mod["rope1d.sin"])
        if "rope2d.pos" in mod:  # tiny and tiny-aln only
            cmp("rope2d.pos (ours, img slots)", pos2d(m, pos), mod["rope2d.pos"])
            c2, s2 = hg.rope2d_tables(mod["rope2d.pos"], hd)
            cmp("rope2d.cos", c2, mod["rope2d.cos"])
            cmp("rope2d.sin", s2, mod["rope2d.sin"])
            cmp("seq_rope cos (img slots)", tr["cos"][:, ct:], mod["rope2d.cos"])

        # Single block with KV cache, three calls (context, scale 1, the last scale: scale 2 skipped)
        # against one masked pass over the concatenation with levels 0, 1, SN-1.
        blk = m.blocks[0]
        calls = [mod["blk.call%d.x" % i] for i in range(3)]
        sis = [int(mod["blk.call%d.si" % i]) for i in range(3)]
        bpos = mod["blk.ctx_pos"]
        cs, ss, lv = [], [], []
        for si, xc in zip(sis, calls):
            if si == 0:
                c, s_ = hg.rope1d_tables(bpos, hd)
            else:
                p = hg.image_positions(pns[si], m.P, bpos[:, -1])
                cmp("blk.call%d.img_pos" % sis.index(si), p, mod["blk.call%d.img_pos" % sis.index(si)])
                c, s_ = hg.rope2d_tables(p, hd)
            cs.append(c)
            ss.append(s_)
            lv += [si] * xc.shape[1]
        lv = torch.tensor(lv)
        bias = torch.where(lv[:, None] >= lv[None, :], 0.0, float("-inf"))
        t = {}
        y, _ = blk(torch.cat(calls, 1), torch.cat(cs, 1), torch.cat(ss, 1), bias, trace=t)
        a = 0
        for i, xc in enumerate(calls):
            n = xc.shape[1]
            for nm_, ours in (("attn_in", t["attn_in"]), ("attn_out", t["attn_out"]), ("ffn_in", t["ffn_in"]),
                              ("ffn_out", t["ffn_out"]), ("y", y)):
                cmp("blk.call%d.%s" % (i, nm_), ours[:, a:a + n], mod["blk.call%d.%s" % (i, nm_)])
            a += n
            cmp("blk.call%d.cache_k" % i, t["k"][:, :, :a], mod["blk.call%d.cache_k" % i])
            cmp("blk.call%d.cache_v" % i, t["v"][:, :, :a], mod["blk.call%d.cache_v" % i])

        # Diffusion MLP.
        net = m.diffloss.net
        t = {}
        o = net(mod["mlp.x"], mod["mlp.t"], mod["mlp.c"], trace=t)
        cmp("mlp.t_emb", t["t_emb"], mod["mlp.t_emb"])
        cmp("mlp.c_emb", t["c_emb"], mod["mlp.c_emb"])
        for j in range(len(net.res_blocks)):
            cmp("mlp.res%d" % j, t["res%d" % j], mod["mlp.res%d" % j])
        cmp("mlp.out", o, mod["mlp.out"])
        # Schedule: our 1000-step cosine table at the respaced timesteps.
        abar = torch.tensor(hg.cosine_alphas_cumprod(1000))
        cmp("sched.alphas_cumprod", abar[mod["sched.timestep_map"]], mod["sched.alphas_cumprod"], tol=1e-12)
        tb = respaced_tables(tuple(mod["sched.timestep_map"].tolist()))
        for ours_k, ref_k in (("P1", "posterior_mean_coef1"), ("P2", "posterior_mean_coef2"),
                              ("LP", "posterior_log_variance_clipped"), ("LB", "log_betas"),
                              ("A", "sqrt_recip_alphas_cumprod"), ("Bm", "sqrt_recipm1_alphas_cumprod")):
            cmp("sched." + ref_k, torch.tensor(tb[ours_k]), mod["sched." + ref_k], tol=1e-9)

    # The training loss runs, has gradients everywhere it should, and none into the variance rows.
    m.train()
    m.diffloss.net.freeze_variance()
    out = m.forward_train(ctx[:B], mask[:B], pos[:B], [i[:B] for i in ins],
                          [run["s%02d.idx" % k] for k in range(SN)], codebook=codebook)
    target = torch.randn(out["z_last"].shape[0] * out["z_last"].shape[1], 32).clamp(-1, 1)
    loss = out["loss_ce"] + m.diffloss(target, out["z_last"].reshape(-1, m.C))
    loss.backward()
    gw = m.diffloss.net.final_layer.linear.weight.grad
    vb = gw[32:].abs().max().item()
    print("train step: loss %.4f, grad on variance rows %.1e, grad on eps rows %.1e" % (
        loss.item(), vb, gw[:32].abs().max().item()))
    if vb != 0 or gw[:32].abs().max().item() == 0:
        failures.append("variance freeze")

    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("all golden comparisons pass")


def pos2d(m, pos):
    return torch.cat([hg.image_positions(pn, m.P, pos[:, -1]) for pn in m.pns[1:]], dim=1)


def respaced_tables(T=(0, 143, 285, 428, 571, 714, 856, 999)):
    """Spec 2.7 in float64: per respaced k, A, Bm, P1, P2, LP (clipped), LB, plus abar."""
    import numpy as np

    full = hg.cosine_alphas_cumprod(1000)
    abar = full[list(T)]
    prev = np.concatenate([[1.0], abar[:-1]])
    beta = 1.0 - abar / prev
    post_var = beta * (1.0 - prev) / (1.0 - abar)
    lp = np.log(np.concatenate([[post_var[1]], post_var[1:]]))
    return dict(T=list(T), abar=abar, prev=prev, A=np.sqrt(1.0 / abar), Bm=np.sqrt(1.0 / abar - 1.0),
                P1=beta * np.sqrt(prev) / (1.0 - abar), P2=(1.0 - prev) * np.sqrt(1.0 - beta) / (1.0 - abar),
                LP=lp, LB=np.log(beta), beta=beta, post_var=post_var)


def diffusion_sample(net, z, cfg, noise0, step_noise):
    """The engine's DiffLoss.sample (spec 1.8) in fp32 with fp32-rounded tables; returns x[:N]."""
    tb = respaced_tables()
    N = noise0.shape[0]
    f32 = lambda v: torch.tensor(float(v), dtype=torch.float32).item()
    x = noise0.clone()
    for i, k in enumerate(range(7, -1, -1)):
        out = net(torch.cat([x, x]), torch.full((2 * N,), tb["T"][k], dtype=torch.int64), z)
        e = (1 + cfg) * out[:N, :32] - cfg * out[N:, :32]
        v = out[:N, 32:]
        x0p = (f32(tb["A"][k]) * x - f32(tb["Bm"][k]) * e).clamp(-1, 1)
        mean = f32(tb["P1"][k]) * x0p + f32(tb["P2"][k]) * x
        fr = (v + 1) / 2
        logv = fr * f32(tb["LB"][k]) + (1 - fr) * f32(tb["LP"][k])
        x = mean + (1.0 if k != 0 else 0.0) * torch.exp(0.5 * logv) * step_noise[i][:N]
    return x


def engine_roundtrip(hart_bin, work):
    """Demo-shaped random model -> exported folders + a teacher-forced golden case -> hart replay."""
    import shutil
    import subprocess

    import config
    import hart_vae

    torch.manual_seed(config.SEED)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    m = hg.build_gpt().init_weights()
    with torch.no_grad():  # every weight non-zero and O(1)-active, except the frozen variance rows
        for n, p in m.named_parameters():
            p.add_(torch.randn_like(p) * (0.5 / p.shape[-1] ** 0.5 if p.ndim == 2 else 0.05))
        m.diffloss.net.final_layer.linear.weight[32:].zero_()
        m.diffloss.net.final_layer.linear.bias[32:].zero_()
    m.eval()
    vae = hart_vae.HartVAE().eval()
    with torch.no_grad():
        vae.quantize.embedding.weight.normal_(0, 0.5)
    hg.export_llm(m, os.path.join(work, "llm"))
    hart_vae.export_tokenizer(vae, work)
    B, ct, SN, pns, cv = 2, m.ct, m.SN, m.pns, 32
    cfg = 4.5
    # Context: two prompts of 9 and 20 tokens, padded; positions cumsum(mask)-1 (spec 5.2).
    lens = [9, 20]
    mask = torch.zeros(B, ct, dtype=torch.bool)
    for b, n in enumerate(lens):
        mask[b, :n] = True
    pos = (mask.long().cumsum(1) - 1).clamp(min=0)
    ctx = torch.randn(B, ct, m.cd)
    hg.save_safetensors(dict(context=ctx, context_mask=mask, context_position_ids=pos),
                        os.path.join(work, "inputs.safetensors"))
    # Tokens of two rendered-like random images through the random VAE's quantizer path.
    with torch.no_grad():
        tok = vae.tokenize(torch.rand(B, 3, 64, 64) * 2 - 1)
        idx = tok["idx"]
        P = pns[-1]
        f = torch.zeros(B, cv, P, P)
        run, fh, nxt = {}, [], []
        for si in range(SN - 1):
            h = vae.quantize.embed(idx[si], B, pns[si])
            f = f + vae.quantize.phi(si)(hart_vae.up_bicubic(h, P))
            fh.append(f.clone())
            nxt.append(hart_vae.down_area(f, pns[si + 1]))
        ins = [t.flatten(2).transpose(1, 2) for t in nxt]
        ctx2 = torch.cat([ctx, torch.zeros_like(ctx)])
        pos2 = torch.cat([pos, torch.zeros_like(pos)])
        x, cond = m.forward_seq(ctx2, pos2, [torch.cat([t, t]) for t in ins], trace=(tr := {}))
        logits = m.logits_of(x, cond)
        spans, a = [(0, ct)], ct
        for pn in pns[1:]:
            spans.append((a, a + pn * pn))
            a += pn * pn
        ours = {"cond_BD": cond, "lvl_table": tr["lvl"]}
        scales = {}
        for si in range(SN):
            s, e = spans[si]
            ratio = min(si, SN - 2) / (SN - 1)  # the last stage keeps the previous ratio (spec 1.7)
            t = cfg * ratio
            lg = logits[:, s:e]
            g = (1 + t) * lg[:B] - t * lg[B:]
            if si == 0:
                g = g[:, ct - 1:ct]
            K = 600 if si < 7 else 300
            keep = g.topk(K, dim=-1).indices.sort(-1).values
            run["s%02d.idx" % si] = idx[si]
            run["s%02d.keep_idx" % si] = keep.to(torch.int16)
            ours["s%02d.keep_logit" % si] = g.gather(-1, keep)
            ours["s%02d.x_in" % si] = tr["x_in"][:, s:e]
            ours["s%02d.hidden" % si] = x[:, s:e]
            scales[str(si)] = {"phi_index": hart_vae.phi_index(si, SN), "cfg_t": t}
            if si < SN - 1:
                run["s%02d.fhat" % si] = fh[si]
                run["s%02d.next_map" % si] = nxt[si]
        hl = vae.quantize.embedding.weight[idx[-1]]
        run["s%02d.h_tokens" % (SN - 1)] = hl
        s, e = spans[-1]
        zc = m.word_embed(hl)
        z = m.decoder_norm(x[:, s:e] + torch.cat([zc, zc])).reshape(-1, m.C)
        ours["diff.z"] = z
        N = B * P * P
        run["diff.noise0"] = torch.randn(N, cv)
        steps = [torch.randn(2 * N, cv) for _ in range(8)]
        for i, n in enumerate(steps):
            run["diff.step%d.noise" % i] = n
        sample = diffusion_sample(m.diffloss.net, z, cfg * (SN - 2) / (SN - 1), run["diff.noise0"], steps)
    hg.save_safetensors(run, os.path.join(work, "run_smooth0.safetensors"))
    with open(os.path.join(work, "run_smooth0.json"), "w") as fo:
        json.dump({"scales": scales}, fo)
    with open(os.path.join(work, "case.json"), "w") as fo:
        json.dump({"B": B, "cfg": cfg}, fo)
    out = os.path.join(work, "engine")
    cmd = [hart_bin, "replay", "--teacher-forcing", "-t", "1", "-o", out, work, "run_smooth0"]
    print("$", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
        failures.append("hart replay")
        return
    eng = hg.load_safetensors(os.path.join(out, "run.safetensors"))
    for k in sorted(ours):
        cmp(k, ours[k], eng.get(k))
    fs = eng["diff.final_sample"][:N].double()
    d = (sample.double() - fs).abs()
    frac = (d > 1e-3).double().mean().item()
    print("diff.final_sample (cond half) max_abs_err %.3e, median %.1e, %.3f%% above 1e-3  %s" % (
        d.max().item(), d.median().item(), 100 * frac, "ok" if frac <= 0.005 else "FAIL"))
    if frac > 0.005:
        failures.append("diff.final_sample")


def engine_main():
    torch.set_num_threads(1)
    hart_bin = sys.argv[2]
    work = sys.argv[3] if len(sys.argv) > 3 else "/tmp/hart-gpt-engine-check"
    engine_roundtrip(hart_bin, work)
    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("engine replay of the exported demo-shaped model matches torch")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--engine":
        engine_main()
    else:
        main()
