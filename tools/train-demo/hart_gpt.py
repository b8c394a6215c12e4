"""The demo model's scale-wise transformer, diffusion MLP and their training (issue #10).

A PyTorch mirror of what the engine computes on the release path (disable_aln, llama attention and
MLP; ../shared/docs/hart-spec.md 1.4-1.8, 2.2-2.7), with the release's state-dict and config keys, so
that `export_llm` writes an `llm/` folder the engine loads as it loads hart-0.7b-1024px.

Training is teacher-forced over the whole sequence at once: context slots (level 0) then the input
slots of scales 1..SN-1 (level k), with the block-causal level mask (slot a sees slot b iff
level(b) <= level(a)). That is exactly what the engine's KV-cached inference computes stage by
stage (no mask inside a stage, every earlier stage in the cache); check_golden_gpt.py proves it on
the recorded tensors of ../shared/golden/tiny.
"""

import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import config

# ------------------------------------------------------------------ safetensors (no package) ----

_ST_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int16: "I16",
    torch.bool: "BOOL",
    torch.uint8: "U8",
}
_ST_TORCH = {v: k for k, v in _ST_DTYPES.items()}


def save_safetensors(tensors, path):
    """Writes the layout of the golden files: sorted names, no padding between tensors, header
    space-padded so that 8 + N is a multiple of 8, no __metadata__."""
    names = sorted(tensors)
    header, blobs, off = {}, [], 0
    for n in names:
        t = tensors[n].detach().cpu().contiguous()
        b = t.numpy().tobytes()
        header[n] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = _ST_TORCH[e["dtype"]]
        np_dt = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64,
                 torch.int16: np.int16, torch.bool: np.bool_, torch.uint8: np.uint8}[dt]
        arr = np.frombuffer(data[a:b], dtype=np_dt).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


# ------------------------------------------------------------------ small shared pieces ----


def rmsnorm(x, w, eps):
    """The fused kernel's math: x * rsqrt(mean(x^2) + eps) * w, in fp32."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def sinusoid(t, dim=256):
    """TimestepEmbedder features: [cos(t f), sin(t f)], f[i] = exp(-ln(10000) i / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half).to(t.device)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """`lvl_embed` / `time_embed`: keys mlp.0 (256 -> W) and mlp.2 (W -> W), SiLU between."""

    def __init__(self, width, freq_dim=256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t):
        return self.mlp(sinusoid(t, self.freq_dim))


def swiglu_hidden(C, mlp_ratio):
    """The release's llama MLP width: int(C * ratio * 2/3 + 255) // 256 * 256 (spec 0.1)."""
    return int(C * mlp_ratio * 2 / 3 + 255) // 256 * 256


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rope1d_tables(pos, hd):
    """[..., hd] cos/sin for integer positions (HF layout, table duplicated), as the engine."""
    inv = 1.0 / torch.pow(torch.tensor(10000.0), torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    a = pos.float()[..., None] * inv.to(pos.device)
    a = torch.cat([a, a], dim=-1)
    return torch.cos(a), torch.sin(a)


def image_positions(pn, P, off):
    """2-D fractional positions of scale pn: px = fp32(r/pn) * P + off (spec 1.5). off: [B] int.
    Returns [B, pn*pn, 2] fp32 (row-major tokens)."""
    r = torch.arange(pn, dtype=torch.float32)
    fr = (r / float(pn)) * float(P)  # division first, then x P, all fp32
    px = fr[:, None].expand(pn, pn).reshape(-1)
    py = fr[None, :].expand(pn, pn).reshape(-1)
    pos = torch.stack([px, py], dim=-1).to(off.device)  # [n, 2]
    return pos[None] + off.float()[:, None, None]


def rope2d_tables(pos, hd):
    """HART's 2-D table: first half row angles (16 freqs twice), second half column angles."""
    h4 = hd // 4
    inv = 1.0 / torch.pow(torch.tensor(10000.0), torch.arange(0, h4, dtype=torch.float32) * 4 / hd)
    inv = inv.to(pos.device)
    ax = pos[..., 0:1] * inv
    ay = pos[..., 1:2] * inv
    a = torch.cat([ax, ax, ay, ay], dim=-1)
    return torch.cos(a), torch.sin(a)


# ------------------------------------------------------------------ transformer ----


class LlamaAttention(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.C, self.H, self.hd = C, H, C // H
        self.qkv_proj = nn.Linear(C, 3 * C, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(C))
        self.register_buffer("zero_k_bias", torch.zeros(C))
        self.v_bias = nn.Parameter(torch.zeros(C))
        self.proj = nn.Linear(C, C)
        self.scale = 0.25 / math.sqrt(self.hd)  # VAR's choice without attn_l2_norm (spec 2.4)

    def qkv(self, a, cos, sin):
        B, L, _ = a.shape
        bias = torch.cat([self.q_bias, self.zero_k_bias, self.v_bias])
        qkv = F.linear(a, self.qkv_proj.weight, bias).view(B, L, 3, self.H, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, L, hd]
        cos, sin = cos[:, None], sin[:, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        return q, k, v

    def forward(self, a, cos, sin, bias, kv=None):
        """bias: additive [L, Lk] mask or None; kv: previous (K, V) to prepend (the engine's cache)."""
        q, k, v = self.qkv(a, cos, sin)
        if kv is not None:
            k = torch.cat([kv[0], k], dim=2)
            v = torch.cat([kv[1], v], dim=2)
        att = (q @ k.transpose(-1, -2)) * self.scale
        if bias is not None:
            att = att + bias
        o = att.softmax(-1) @ v
        B, H, L, hd = o.shape
        return self.proj(o.transpose(1, 2).reshape(B, L, H * hd)), (k, v)


class LlamaMLP(nn.Module):
    def __init__(self, C, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(C, hidden, bias=False)
        self.up_proj = nn.Linear(C, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, C, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RMSNormW(nn.Module):
    """`*.ln_wo_grad` / `context_norm` / `decoder_norm`: a weight-only RMSNorm."""

    def __init__(self, C, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(C))
        self.eps = eps

    def forward(self, x):
        return rmsnorm(x, self.weight, self.eps)


class Block(nn.Module):
    """Release block: one RMSNorm weight used before both attention and FFN, no adaLN."""

    def __init__(self, C, H, hidden, eps):
        super().__init__()
        self.attn = LlamaAttention(C, H)
        self.ffn = LlamaMLP(C, hidden)
        self.ln_wo_grad = RMSNormW(C, eps)

    def forward(self, x, cos, sin, bias, kv=None, trace=None):
        a = self.ln_wo_grad(x)
        ao, kv = self.attn(a, cos, sin, bias, kv)
        x = x + ao
        b = self.ln_wo_grad(x)
        fo = self.ffn(b)
        if trace is not None:
            trace.update(attn_in=a, attn_out=ao, ffn_in=b, ffn_out=fo, k=kv[0], v=kv[1])
        return x + fo, kv


class AdaLNHead(nn.Module):
    """`head_nm`: RMSNorm then (1 + scale), shift from SiLU + Linear of the max-pooled cond."""

    def __init__(self, C, eps):
        super().__init__()
        self.ln_wo_grad = RMSNormW(C, eps)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(C, 2 * C))

    def forward(self, x, cond_pooled):
        scale, shift = self.ada_lin(cond_pooled).chunk(2, dim=-1)
        return self.ln_wo_grad(x) * (1 + scale) + shift


class DiffusionMLP(nn.Module):
    """SimpleMLPAdaLN (`diffloss.net.*`): input 32, output 64 = [eps | variance logits]."""

    def __init__(self, in_ch, width, cond_dim, depth):
        super().__init__()
        self.in_ch = in_ch
        self.input_proj = nn.Linear(in_ch, width)
        self.time_embed = TimestepEmbedder(width)
        self.cond_embed = nn.Linear(cond_dim, width)
        self.res_blocks = nn.ModuleList(_ResBlock(width) for _ in range(depth))
        self.final_layer = _FinalLayer(width, 2 * in_ch)

    def init_weights(self):
        """MAR's init: xavier linears, N(0, 0.02) time MLP, zero adaLN and final layer."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.time_embed.mlp[0].weight, std=0.02)
        nn.init.normal_(self.time_embed.mlp[2].weight, std=0.02)
        for b in self.res_blocks:
            nn.init.zeros_(b.adaLN_modulation[1].weight)
            nn.init.zeros_(b.adaLN_modulation[1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def freeze_variance(self):
        """The learned-range variance half is not trained: its output rows stay zero, so v = 0."""
        lin = self.final_layer.linear
        with torch.no_grad():
            lin.weight[self.in_ch:].zero_()
            lin.bias[self.in_ch:].zero_()
        keep = torch.ones(2 * self.in_ch, 1)
        keep[self.in_ch:] = 0
        lin.weight.register_hook(lambda g: g * keep.to(g.device))
        lin.bias.register_hook(lambda g: g * keep[:, 0].to(g.device))

    def forward(self, x, t, c, trace=None):
        h = self.input_proj(x)
        if t.numel() > 64:  # training: thousands of rows, at most 1000 distinct timesteps
            tu, inv = torch.unique(t, return_inverse=True)
            # index_select, not te[inv]: the backward of advanced indexing adds the rows with
            # atomic adds across threads on the CPU (another order each run), index_select's in
            # one fixed order, so that a re-run writes the same weights.
            te = torch.index_select(self.time_embed(tu), 0, inv)
        else:
            te = self.time_embed(t)
        ce = self.cond_embed(c)
        y = te + ce
        if trace is not None:
            trace.update(t_emb=te, c_emb=ce)
        for j, blk in enumerate(self.res_blocks):
            h = blk(h, y)
            if trace is not None:
                trace["res%d" % j] = h
        return self.final_layer(h, y)


class _ResBlock(nn.Module):
    def __init__(self, W):
        super().__init__()
        self.in_ln = nn.LayerNorm(W, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(W, W), nn.SiLU(), nn.Linear(W, W))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(W, 3 * W))

    def forward(self, x, y):
        shift, scale, gate = self.adaLN_modulation(y).chunk(3, dim=-1)
        return x + gate * self.mlp(self.in_ln(x) * (1 + scale) + shift)


class _FinalLayer(nn.Module):
    def __init__(self, W, out):
        super().__init__()
        self.norm_final = nn.LayerNorm(W, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(W, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(W, 2 * W))

    def forward(self, x, y):
        shift, scale = self.adaLN_modulation(y).chunk(2, dim=-1)
        return self.linear(self.norm_final(x) * (1 + scale) + shift)


class DiffLoss(nn.Module):
    """`diffloss`: holds `net` and the IDDPM cosine schedule (1000 steps) for training."""

    def __init__(self, in_ch, width, cond_dim, depth, batch_mul):
        super().__init__()
        self.net = DiffusionMLP(in_ch, width, cond_dim, depth)
        self.batch_mul = batch_mul
        abar = cosine_alphas_cumprod(1000)
        self.register_buffer("sqrt_abar", torch.tensor(np.sqrt(abar), dtype=torch.float32), persistent=False)
        self.register_buffer("sqrt_1mabar", torch.tensor(np.sqrt(1.0 - abar), dtype=torch.float32),
                             persistent=False)

    def forward(self, target, z):
        """eps-prediction MSE (IDDPM `training_losses`, mse part; the vb term is dropped because the
        variance output is frozen). target [N, 32], z [N, C]; each row gets batch_mul timesteps."""
        target = target.repeat(self.batch_mul, 1)
        z = z.repeat(self.batch_mul, 1)
        t = torch.randint(0, 1000, (target.shape[0],), device=target.device)
        noise = torch.randn_like(target)
        xt = self.sqrt_abar[t, None] * target + self.sqrt_1mabar[t, None] * noise
        eps = self.net(xt, t, z)[:, : target.shape[1]]
        return F.mse_loss(eps, noise)


def cosine_alphas_cumprod(T=1000):
    """float64 as IDDPM: beta_i = min(1 - abar((i+1)/T)/abar(i/T), 0.999), abar = cumprod(1-beta)."""
    f = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = np.array([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)], dtype=np.float64)
    return np.cumprod(1.0 - betas)


class HartGPT(nn.Module):
    """HARTForT2I on the release path. State-dict keys = the release's (spec 2.2)."""

    def __init__(self, embed_dim, depth, num_heads, mlp_ratio, context_token, context_dim, patch_nums,
                 vocab_size, cvae=32, diff_width=None, diff_depth=3, diffusion_batch_mul=4,
                 cond_drop_rate=0.1, norm_eps=1e-6, **_):
        super().__init__()
        C = embed_dim
        self.C, self.H, self.hd = C, num_heads, C // num_heads
        assert self.H * self.hd == C and self.hd % 4 == 0
        self.ct, self.cd, self.V, self.cvae = context_token, context_dim, vocab_size, cvae
        self.pns = list(patch_nums)
        self.SN, self.P = len(self.pns), self.pns[-1]
        self.eps = norm_eps
        self.cond_drop_rate = cond_drop_rate
        self.word_embed = nn.Linear(cvae, C)
        self.context_embed = nn.Linear(context_dim, C)
        self.context_norm = RMSNormW(context_dim, norm_eps)
        self.lvl_embed = TimestepEmbedder(C)
        hidden = swiglu_hidden(C, mlp_ratio)
        self.blocks = nn.ModuleList(Block(C, num_heads, hidden, norm_eps) for _ in range(depth))
        self.head_nm = AdaLNHead(C, norm_eps)
        self.head = nn.Linear(C, vocab_size)
        self.decoder_norm = RMSNormW(C, norm_eps)
        self.diffloss = DiffLoss(cvae, diff_width or C, C, diff_depth, diffusion_batch_mul)
        lvl = [0] * context_token
        for k, pn in enumerate(self.pns[1:], start=1):
            lvl += [k] * (pn * pn)
        lvl = torch.tensor(lvl, dtype=torch.int64)[None]
        self.register_buffer("lvl_1L", lvl)
        d = lvl.view(1, 1, -1, 1)
        # HART's own training mask: 0 where level(key) <= level(query), else -inf.
        self.register_buffer("attn_bias_for_masking",
                             torch.where(d >= d.transpose(2, 3), 0.0, -math.inf).reshape(1, 1, lvl.shape[1], -1))

    # ------------------------------------------------------------------ init ----
    def init_weights(self, std=0.02):
        """VAR-style: truncated-normal linears, small head, zero biases; MAR init for the diffusion MLP."""
        for name, m in self.named_modules():
            if name.startswith("diffloss"):
                continue
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        depth = len(self.blocks)
        for b in self.blocks:  # GPT-2 style scaling of the residual outputs
            b.attn.proj.weight.data.div_(math.sqrt(2 * depth))
            b.ffn.down_proj.weight.data.div_(math.sqrt(2 * depth))
        self.head.weight.data.mul_(0.5)
        nn.init.zeros_(self.head_nm.ada_lin[1].weight)
        nn.init.zeros_(self.head_nm.ada_lin[1].bias)
        self.diffloss.net.init_weights()
        self.diffloss.net.freeze_variance()
        return self

    # ------------------------------------------------------------------ pieces ----
    def condition(self, ctx):
        """cond_BD = context_embed(rmsnorm(ctx)) (spec 1.4)."""
        return self.context_embed(self.context_norm(ctx))

    def lvl_table(self):
        return self.lvl_embed(torch.arange(self.SN, device=self.head.weight.device))

    def seq_rope(self, ctx_pos):
        """cos/sin [B, Ltot, hd] for the whole teacher-forced sequence: 1-D over context positions,
        2-D fractional positions for each scale k >= 1, offset by the row's last context position."""
        c1, s1 = rope1d_tables(ctx_pos, self.hd)
        off = ctx_pos[:, -1]
        pos = torch.cat([image_positions(pn, self.P, off) for pn in self.pns[1:]], dim=1)
        c2, s2 = rope2d_tables(pos, self.hd)
        return torch.cat([c1, c2], dim=1), torch.cat([s1, s2], dim=1)

    def logits_of(self, x, cond):
        return self.head(self.head_nm(x, cond.max(dim=1, keepdim=True).values))

    def forward_seq(self, ctx, ctx_pos, inputs_per_scale, trace=None):
        """Teacher-forced pass over all slots. inputs_per_scale: scales 1..SN-1, each [B, pn^2, Cvae]
        (or one [B, sum, Cvae] tensor). Returns (hidden [B, Ltot, C], cond [B, ct, C])."""
        if isinstance(inputs_per_scale, (list, tuple)):
            inputs_per_scale = torch.cat(list(inputs_per_scale), dim=1)
        cond = self.condition(ctx)
        lvl = self.lvl_table()
        # index_select, not lvl[...]: see DiffusionMLP.forward (a fixed order of the backward's sums).
        x = torch.cat([cond, self.word_embed(inputs_per_scale)], dim=1) + torch.index_select(lvl, 0, self.lvl_1L[0])
        cos, sin = self.seq_rope(ctx_pos)
        bias = self.attn_bias_for_masking[0, 0]
        if trace is not None:
            trace.update(cond=cond, lvl=lvl, x_in=x, cos=cos, sin=sin)
        for i, b in enumerate(self.blocks):
            t = {} if trace is not None else None
            x, _ = b(x, cos, sin, bias, trace=t)
            if trace is not None:
                trace["block%d" % i] = x
                trace["block%d_trace" % i] = t
        return x, cond

    def drop_cond(self, ctx, ctx_pos):
        """CFG null rows by dropout: context zeros and every position 0 (so image offset 0)."""
        if not self.training or self.cond_drop_rate <= 0:
            return ctx, ctx_pos
        drop = torch.rand(ctx.shape[0], device=ctx.device) < self.cond_drop_rate
        ctx = torch.where(drop[:, None, None], torch.zeros_like(ctx), ctx)
        ctx_pos = torch.where(drop[:, None], torch.zeros_like(ctx_pos), ctx_pos)
        return ctx, ctx_pos

    def forward_train(self, ctx, ctx_mask, ctx_pos, inputs_per_scale, idx_per_scale, codebook=None):
        """Returns dict(loss_ce, logits [B, L, V], targets [B, L], z_last [B, P^2, C] or None).
        ctx_mask is accepted for the interface; the release path never reads it (spec 3.5).
        codebook [V, Cvae] (frozen, from the VAE) gives the diffusion condition of the last scale:
        rmsnorm(hidden_last + word_embed(codebook[idx_last]), decoder_norm)."""
        del ctx_mask
        ctx, ctx_pos = self.drop_cond(ctx, ctx_pos)
        x, cond = self.forward_seq(ctx, ctx_pos, inputs_per_scale)
        # Scale 0's token comes from the last context slot, scale k's from the level-k slots.
        xs = x[:, self.ct - 1:]
        logits = self.logits_of(xs, cond)
        if isinstance(idx_per_scale, (list, tuple)):
            targets = torch.cat([i.reshape(i.shape[0], -1) for i in idx_per_scale], dim=1)
        else:
            targets = idx_per_scale
        if getattr(self, "scale_balanced", False):
            # Every scale weighs the same: with per-token weights the 1x1 and 2x2 scales, which
            # carry the layout and colours the caption names, are 5 of 155 tokens and the text
            # conditioning is learnt slowly.
            ce = F.cross_entropy(logits.reshape(-1, self.V), targets.reshape(-1), reduction="none")
            ce = ce.reshape(targets.shape)
            loss = torch.stack([ce[:, a:b].mean() for a, b in scale_spans(self.pns)]).mean()
        else:
            loss = F.cross_entropy(logits.reshape(-1, self.V), targets.reshape(-1))
        z = None
        if codebook is not None:
            nl = self.P * self.P
            last = x[:, -nl:]
            z = self.decoder_norm(last + self.word_embed(codebook[targets[:, -nl:]]))
        return dict(loss_ce=loss, logits=logits, targets=targets, z_last=z)

    # ------------------------------------------------------------------ export ----
    def llm_config(self, cfg):
        """Every key of the release config.json (golden/tiny/llm/config.json key set)."""
        return {
            "attn_drop_rate": 0.0,
            "attn_l2_norm": False,
            "attn_type": "llama",
            "cond_drop_rate": cfg.get("cond_drop_rate", 0.1),
            "context_dim": self.cd,
            "context_norm_scale": 1.0,
            "context_token": self.ct,
            "depth": len(self.blocks),
            "diff_depth": len(self.diffloss.net.res_blocks),
            "diff_width": self.diffloss.net.input_proj.out_features,
            "diffusion_batch_mul": self.diffloss.batch_mul,
            "diffusion_head_repeats": 1,
            "disable_aln": True,
            "drop_path_rate": 0.0,
            "drop_rate": 0.0,
            "embed_dim": self.C,
            "flash_if_available": True,
            "fused_if_available": True,
            "mlp_ratio": float(cfg.get("mlp_ratio", 4.0)),
            "mlp_type": "llama",
            "model_type": "hart_transformer_t2i",
            "norm_eps": self.eps,
            "num_heads": self.H,
            "num_sampling_steps": "8",
            "patch_nums": list(self.pns),
            "sampler": "iddpm",
            "sep_aln_pooling_mode": "avg",
            "shared_aln": False,
            "use_context_norm": True,
            "use_cross_attn": False,
            "use_timestep_embed": True,
            "vae_path": None,
        }


def build_gpt(gpt_cfg=None, patch_nums=None, vocab_size=None):
    g = dict(config.GPT if gpt_cfg is None else gpt_cfg)
    m = HartGPT(patch_nums=patch_nums or config.PATCH_NUMS, vocab_size=vocab_size or config.VAE["vocab_size"],
                cvae=config.VAE["z_channels"], **g)
    m.cfg = g
    return m


def export_llm(model, out_dir, state_dict=None):
    """Writes out_dir/config.json and out_dir/model.safetensors (fp32, release keys). Pass the EMA
    weights as state_dict to export them instead of the live ones."""
    os.makedirs(out_dir, exist_ok=True)
    sd = state_dict if state_dict is not None else model.state_dict()
    sd = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu() for k, v in sd.items()}
    save_safetensors(sd, os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(model.llm_config(getattr(model, "cfg", {})), f, indent=2, sort_keys=True)
        f.write("\n")


def load_llm(dir_):
    """Builds a HartGPT from an llm/ folder (ours or the golden ones)."""
    with open(os.path.join(dir_, "config.json")) as f:
        c = json.load(f)
    sd = load_safetensors(os.path.join(dir_, "model.safetensors"))
    V, cvae = sd["head.weight"].shape[0], sd["word_embed.weight"].shape[1]
    m = HartGPT(embed_dim=c["embed_dim"], depth=c["depth"], num_heads=c["num_heads"], mlp_ratio=c["mlp_ratio"],
                context_token=c["context_token"], context_dim=c["context_dim"], patch_nums=c["patch_nums"],
                vocab_size=V, cvae=cvae, diff_width=c["diff_width"], diff_depth=c["diff_depth"],
                diffusion_batch_mul=c.get("diffusion_batch_mul", 4), norm_eps=c["norm_eps"])
    m.cfg = c
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    # The training mask is a buffer the loader ignores; the golden "small" case omits it.
    assert not [k for k in missing if k != "attn_bias_for_masking"], missing
    return m


# ------------------------------------------------------------------ training ----


def _param_groups(model, wd):
    """Weight decay on matrices only (not norms, biases, embeddings of levels/time)."""
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    return [dict(params=decay, weight_decay=wd), dict(params=no_decay, weight_decay=0.0)]


def scale_spans(pns):
    """Index ranges of each scale's tokens in the concatenated targets (scale 0 = 1 token)."""
    spans, a = [], 0
    for pn in pns:
        spans.append((a, a + pn * pn))
        a += pn * pn
    return spans


def make_batch(rng, batch, vae, textenc, scenes):
    """Samples scenes, renders, tokenizes with the VAE and encodes the captions."""
    specs, caps = [], []
    for _ in range(batch):
        spec, text = scenes.sample_training(rng)
        specs.append(spec)
        caps.append(text)
    imgs = torch.from_numpy(np.stack([scenes.render(s) for s in specs]))
    tok = vae.tokenize(imgs)
    ctx, mask, pos = textenc.encode(caps)
    return tok, ctx, mask, pos, caps


def train_gpt(vae, textenc, steps, batch, out_dir, log=print, lr=1e-3, wd=0.05, warmup=None, clip=2.0,
              ema_decay=0.999, ckpt_every=500, log_every=25, threads=2, seed=None, resume=True, device=None,
              balanced_from=None):
    """Trains HartGPT + diffusion MLP (teacher forcing, frozen VAE codebook, frozen text encoder).

    vae: hart_vae.HartVAE (trained); textenc: textenc.TextEncoder. Writes out_dir/gpt.pt
    (model, ema, optimizer, step) every ckpt_every steps and at the end; returns (model, ema_state).
    balanced_from: from this step on, every scale's cross-entropy weighs the same (see forward_train).
    """
    import scenes

    torch.set_num_threads(threads)
    seed = config.SEED if seed is None else seed
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed + 10)
    rng = np.random.default_rng([seed, 10])
    os.makedirs(out_dir, exist_ok=True)
    vae = vae.to(device).eval()
    for p in vae.parameters():
        p.requires_grad_(False)
    codebook = vae.quantize.embedding.weight.detach().clone().to(device)
    model = build_gpt(vocab_size=codebook.shape[0]).init_weights().to(device)
    assert model.pns == list(vae.patch_nums), (model.pns, vae.patch_nums)
    opt = torch.optim.AdamW(_param_groups(model, wd), lr=lr, betas=(0.9, 0.95))
    warmup = warmup if warmup is not None else max(1, min(200, steps // 20))

    def lr_at(s):
        if s < warmup:
            return lr * (s + 1) / warmup
        p = (s - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if ema_decay else None
    step = 0
    ck_path = os.path.join(out_dir, "gpt.pt")
    if resume and os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema = ck.get("ema", ema)
        step = ck["step"]
        rng = np.random.default_rng([seed, 10, step])
        log("gpt: resumed from %s at step %d" % (ck_path, step))

    def save(path):
        torch.save(dict(model=model.state_dict(), ema=ema, opt=opt.state_dict(), step=step, cfg=model.cfg,
                        patch_nums=model.pns, vocab_size=model.V), path + ".tmp")
        os.replace(path + ".tmp", path)

    spans = scale_spans(model.pns)
    model.train()
    t0, acc_sum, n_sum, ce_sum, dl_sum = time.time(), None, 0, 0.0, 0.0
    t_data = t_step = 0.0
    while step < steps:
        ta = time.time()
        tok, ctx, mask, pos, _ = make_batch(rng, batch, vae, textenc, scenes)
        idx = [i.to(device) for i in tok["idx"]]
        inputs = [i.to(device) for i in tok["inputs"]]
        target = (tok["residual"].to(device) / 0.6).clamp(-1, 1).reshape(-1, model.cvae)
        tb = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        model.scale_balanced = balanced_from is not None and step >= balanced_from
        out = model.forward_train(ctx.to(device), mask.to(device), pos.to(device), inputs, idx, codebook=codebook)
        dl = model.diffloss(target, out["z_last"].reshape(-1, model.C))
        loss = out["loss_ce"] + dl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        step += 1
        if ema is not None:
            with torch.no_grad():
                d = min(ema_decay, (1 + step) / (10 + step))
                for k, v in model.state_dict().items():
                    if v.is_floating_point():
                        ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
        with torch.no_grad():
            hit = (out["logits"].argmax(-1) == out["targets"]).float()
            acc = torch.stack([hit[:, a:b].mean() for a, b in spans])
        acc_sum = acc if acc_sum is None else acc_sum + acc
        n_sum += 1
        ce_sum += out["loss_ce"].item()
        dl_sum += dl.item()
        t_data += tb - ta
        t_step += time.time() - tb
        if step % log_every == 0 or step == steps:
            el = time.time() - t0
            log("gpt step %d/%d lr %.2e ce %.4f diff %.4f |g| %.2f acc/scale %s  %.2f steps/s (data %.0f%%)" % (
                step, steps, lr_at(step - 1), ce_sum / n_sum, dl_sum / n_sum, float(gn),
                " ".join("%.2f" % a for a in (acc_sum / n_sum).tolist()), n_sum / el,
                100 * t_data / max(1e-9, t_data + t_step)))
            t0, acc_sum, n_sum, ce_sum, dl_sum, t_data, t_step = time.time(), None, 0, 0.0, 0.0, 0.0, 0.0
        if step % ckpt_every == 0 or step == steps:
            save(ck_path)
    return model, ema


def load_checkpoint(path, device="cpu", use_ema=True):
    """Model from a train_gpt checkpoint (the EMA weights when present and use_ema)."""
    ck = torch.load(path, map_location=device)
    m = build_gpt(ck["cfg"], ck["patch_nums"], ck["vocab_size"]).to(device)
    m.load_state_dict(ck["ema"] if use_ema and ck.get("ema") else ck["model"])
    return m.eval()


def main():
    import argparse

    ap = argparse.ArgumentParser(description="train the demo's scale-wise transformer")
    ap.add_argument("--vae", required=True, help="hart_vae checkpoint (.pt)")
    ap.add_argument("--qwen", required=True, help="the demo's Qwen2 folder")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", help="write llm/ here after training (EMA weights)")
    a = ap.parse_args()
    import hart_vae
    import textenc

    vae = hart_vae.load_checkpoint(a.vae)
    te = textenc.TextEncoder(a.qwen)
    model, ema = train_gpt(vae, te, a.steps, a.batch, a.out, threads=a.threads)
    if a.export:
        export_llm(model, a.export, ema)


if __name__ == "__main__":
    main()
