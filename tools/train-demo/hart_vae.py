"""The demo model's hybrid tokenizer: training encoder, multi-scale residual quantizer, the engine's decoder.

Everything the engine reads (decoder, post_quant_conv, codebook, phi convs) mirrors
`engine/src/vae.c` and hart-spec.md 2.8/2.9/3.6 exactly and carries the release's state-dict keys
(`vae.decoder.*`, `vae.post_quant_conv.*`, `vae.quantize.embedding.weight`,
`vae.quantize.quant_resi.qresi_ls.{0..3}.*`); `check_golden_vae.py` proves it against the goldens.
The encoder exists only to train the rest and is never exported.

Usage:
    /usr/bin/python3 hart_vae.py --steps 1500 --batch 16 --out runs/vae      # train + export
    /usr/bin/python3 hart_vae.py --export-only runs/vae/vae.pt --out DIR      # writes DIR/tokenizer/
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import config  # noqa: E402

GN_GROUPS = 32
GN_EPS = 1e-6
RES_PER_LEVEL = 3  # num_res_blocks (2) + 1 in the taming decoder
VAE_SCALE = 0.6  # the engine multiplies the diffusion sample by this (spec 1.8)


# ---------------------------------------------------------------------------------------------
# safetensors (no python package on this machine): the layout of golden/README.md

_ST_DTYPES = {
    "F32": np.float32,
    "F64": np.float64,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def load_safetensors(path):
    """name -> torch tensor (copies; numpy-backed reads of every listed dtype)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        arr = np.frombuffer(data, dtype=_ST_DTYPES[e["dtype"]], count=(en - b) // np.dtype(
            _ST_DTYPES[e["dtype"]]).itemsize, offset=base + b).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def save_safetensors(tensors, path):
    """Writes fp32 (or int64) tensors in sorted-name order, header space-padded to 8 bytes."""
    names = sorted(tensors)
    header, blobs, off = {}, [], 0
    for name in names:
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype == torch.float32:
            dt = "F32"
        elif t.dtype == torch.int64:
            dt = "I64"
        else:
            raise ValueError(f"{name}: dtype {t.dtype} not written")
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# resampling and scale bookkeeping (spec 3.6, 2.8)


def up_bicubic(x, size):
    """pn -> size, A = -0.75, align_corners False: torch's CPU bicubic is the spec's definition."""
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)


def down_area(x, pn):
    """size -> pn, adaptive average pooling (overlapping windows when size % pn != 0)."""
    return F.interpolate(x, size=(pn, pn), mode="area")


def phi_index(si, n_scales, n_phi=4):
    """argmin |linspace(1/(3K), 1-1/(3K), K) - si/(SN-1)| in float64, first index on ties (numpy)."""
    ticks = np.linspace(1.0 / (3 * n_phi), 1.0 - 1.0 / (3 * n_phi), n_phi)
    return int(np.argmin(np.abs(ticks - si / (n_scales - 1))))


# ---------------------------------------------------------------------------------------------
# decoder (engine/src/vae.c)


def _gn(c):
    return nn.GroupNorm(GN_GROUPS, c, eps=GN_EPS, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = _gn(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = _gn(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    """One head of width C over the H*W pixels; fused qkv 1x1 conv (rows q|k|v), no SiLU on the norm."""

    def __init__(self, c):
        super().__init__()
        self.norm = _gn(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)
        w = torch.bmm(q.transpose(1, 2), k) * (C ** -0.5)  # [B, i, j]
        w = w.softmax(dim=-1)
        o = torch.bmm(v, w.transpose(1, 2))  # o[c, i] = sum_j v[c, j] w[i, j]
        return x + self.proj_out(o.reshape(B, C, H, W))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UpLevel(nn.Module):
    def __init__(self, cin, cout, attn, upsample):
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()
        for _ in range(RES_PER_LEVEL):
            self.block.append(ResnetBlock(cin, cout))
            cin = cout
            if attn:
                self.attn.append(AttnBlock(cout))
        if upsample:
            self.upsample = Upsample(cout)
        else:
            self.upsample = None


class Mid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1 = ResnetBlock(c, c)
        self.attn_1 = AttnBlock(c)
        self.block_2 = ResnetBlock(c, c)


class Decoder(nn.Module):
    """taming/VQGAN decoder as the engine runs it: attention only at the lowest-resolution level."""

    def __init__(self, ch, ch_mult, z_channels):
        super().__init__()
        n = len(ch_mult)
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = Mid(block_in)
        ups = [None] * n
        for lv in range(n - 1, -1, -1):
            block_out = ch * ch_mult[lv]
            ups[lv] = UpLevel(block_in, block_out, attn=lv == n - 1, upsample=lv > 0)
            block_in = block_out
        self.up = nn.ModuleList(ups)  # indexed by level, run n-1 .. 0
        self.norm_out = _gn(block_in)
        self.conv_out = nn.Conv2d(block_in, 3, 3, 1, 1)

    def forward(self, x, trace=None):
        x = self.conv_in(x)
        if trace is not None:
            trace["conv_in"] = x
        x = self.mid.block_2(self.mid.attn_1(self.mid.block_1(x)))
        if trace is not None:
            trace["mid"] = x
        for lv in range(len(self.up) - 1, -1, -1):
            level = self.up[lv]
            for i in range(RES_PER_LEVEL):
                x = level.block[i](x)
                if len(level.attn):
                    x = level.attn[i](x)
            if level.upsample is not None:
                x = level.upsample(x)
            if trace is not None:
                trace[f"up{lv}"] = x
        return self.conv_out(F.silu(self.norm_out(x)))


# ---------------------------------------------------------------------------------------------
# quantizer (spec 2.8 + DESIGN.md)


class Phi(nn.Conv2d):
    """phi(u) = (1-q) u + q (conv3x3(u) + b), q = |quant_resi| (0.5)."""

    def __init__(self, c, quant_resi):
        super().__init__(c, c, 3, 1, 1)
        self.q = abs(quant_resi)

    def forward(self, u):
        return u * (1.0 - self.q) + super().forward(u) * self.q


class PhiList(nn.Module):
    def __init__(self, n, c, quant_resi):
        super().__init__()
        self.qresi_ls = nn.ModuleList([Phi(c, quant_resi) for _ in range(n)])


class HybridQuantizer(nn.Module):
    """Codebook + phi convs; VAR multi-scale residual quantization, HART's phi-free last scale.

    Codebook training: VQ loss (codebook towards the residuals it is chosen for) + commitment, and a
    dead-code restart from recent residuals so that most of the vocabulary stays in use."""

    def __init__(self, vocab_size, cv, patch_nums, quant_resi, n_phi):
        super().__init__()
        self.V, self.cv, self.pns, self.n_phi = vocab_size, cv, list(patch_nums), n_phi
        self.embedding = nn.Embedding(vocab_size, cv)
        nn.init.uniform_(self.embedding.weight, -0.5 / vocab_size ** 0.5, 0.5 / vocab_size ** 0.5)
        self.quant_resi = PhiList(n_phi, cv, quant_resi)
        # Training-only state (not exported): usage EMA per code, whether the codebook was seeded.
        self.register_buffer("usage", torch.zeros(vocab_size))
        self.register_buffer("seeded", torch.zeros((), dtype=torch.bool))
        self._pool = None  # recent residual vectors for restarts

    def phi(self, si):
        return self.quant_resi.qresi_ls[phi_index(si, len(self.pns), self.n_phi)]

    def nearest(self, r):
        """r [N, cv] -> idx [N] of the nearest codebook row (L2)."""
        e = self.embedding.weight
        d = (r * r).sum(1, keepdim=True) - 2.0 * r @ e.t() + (e * e).sum(1)[None]
        return d.argmin(1)

    def embed(self, idx, B, pn):
        """idx [B, pn*pn] -> [B, cv, pn, pn] (token t -> row t // pn, column t % pn)."""
        return self.embedding(idx).reshape(B, pn, pn, self.cv).permute(0, 3, 1, 2)

    def forward(self, z, train=False):
        """z [B, cv, S, S] -> dict(idx, inputs, f_hat, vq_loss, candidates).

        f_hat is built as the engine decodes it; f_hat_st carries straight-through gradients."""
        B, C, S, _ = z.shape
        SN = len(self.pns)
        zd = z.detach()
        f_hat = torch.zeros_like(z)
        idx_list, inputs, cands = [], [], []
        vq = z.new_zeros(())
        for si, pn in enumerate(self.pns):
            if si > 0:
                inputs.append(down_area(f_hat.detach(), pn).permute(0, 2, 3, 1).reshape(B, pn * pn, C))
            rest = down_area(zd - f_hat.detach(), pn) if pn != S else zd - f_hat.detach()
            rest_nc = rest.permute(0, 2, 3, 1).reshape(-1, C)
            with torch.no_grad():
                idx = self.nearest(rest_nc)
            idx_list.append(idx.reshape(B, pn * pn))
            cands.append(rest_nc)
            h = self.embed(idx.reshape(B, pn * pn), B, pn)
            if si < SN - 1:
                f_hat = f_hat + self.phi(si)(up_bicubic(h, S))
            else:
                f_hat = f_hat + h  # the last scale: no phi, no interpolation
            if train:
                # codebook/phi towards z; commitment handled by the caller on the final f_hat
                vq = vq + F.mse_loss(f_hat, zd)
        out = dict(idx=idx_list, inputs=inputs, f_hat=f_hat, vq_loss=vq / SN)
        if train:
            with torch.no_grad():
                counts = torch.zeros(self.V, device=z.device)
                for idx in idx_list:
                    counts += torch.bincount(idx.reshape(-1), minlength=self.V).float()
                self.usage.mul_(0.95).add_(counts, alpha=0.05)
                pool = torch.cat(cands, 0)
                self._pool = pool[torch.randperm(pool.shape[0], device=pool.device)[:4096]]
        return out

    @torch.no_grad()
    def seed_codebook(self):
        """First step: codebook rows = random recent residuals (k-means++-free data init)."""
        pool = self._pool
        sel = pool[torch.randint(0, pool.shape[0], (self.V,), device=pool.device)]
        self.embedding.weight.copy_(sel + 0.01 * torch.randn_like(sel) * sel.std())
        self.usage.fill_(1.0)
        self.seeded.fill_(True)

    @torch.no_grad()
    def restart_dead(self, threshold=0.03):
        """Codes whose usage EMA fell below `threshold` hits per step are moved onto recent residuals."""
        dead = (self.usage < threshold).nonzero().reshape(-1)
        if dead.numel() == 0 or self._pool is None:
            return 0
        pool = self._pool
        sel = pool[torch.randint(0, pool.shape[0], (dead.numel(),), device=pool.device)]
        self.embedding.weight[dead] = sel + 0.01 * torch.randn_like(sel) * (sel.std() + 1e-8)
        self.usage[dead] = 1.0  # grace period
        return int(dead.numel())


# ---------------------------------------------------------------------------------------------
# encoder (training only)


class EncBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n1, self.c1 = _gn(c), nn.Conv2d(c, c, 3, 1, 1)
        self.n2, self.c2 = _gn(c), nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.c2(F.silu(self.n2(self.c1(F.silu(self.n1(x))))))


class Encoder(nn.Module):
    """64x64x3 -> 8x8x32, bounded by tanh so the latent (and the residual / 0.6) stays small."""

    def __init__(self, cv, ch=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, ch, 3, 1, 1),
            EncBlock(ch),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1),  # 32
            EncBlock(2 * ch),
            nn.Conv2d(2 * ch, 2 * ch, 4, 2, 1),  # 16
            EncBlock(2 * ch),
            nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1),  # 8
            EncBlock(4 * ch),
            EncBlock(4 * ch),
            _gn(4 * ch),
            nn.SiLU(),
            nn.Conv2d(4 * ch, cv, 3, 1, 1),
        )

    def forward(self, x):
        return torch.tanh(self.net(x))


# ---------------------------------------------------------------------------------------------
# the whole tokenizer


class HartVAE(nn.Module):
    def __init__(self, vae_cfg=None, patch_nums=None):
        super().__init__()
        cfg = dict(config.VAE if vae_cfg is None else vae_cfg)
        self.cfg = cfg
        self.patch_nums = list(config.PATCH_NUMS if patch_nums is None else patch_nums)
        cv = cfg["z_channels"]
        self.encoder = Encoder(cv)
        self.quantize = HybridQuantizer(cfg["vocab_size"], cv, self.patch_nums, cfg["quant_resi"],
                                        cfg["share_quant_resi"])
        self.post_quant_conv = nn.Conv2d(cv, cv, 3, 1, 1)
        self.decoder = Decoder(cfg["ch"], cfg["ch_mult"], cv)

    @torch.no_grad()
    def init_for_training(self):
        """Residual branches start at zero (every block the identity): the deep decoder then trains
        as a shallow net first, which matters with the few hundred steps a shared 2-core CPU allows."""
        for m in self.modules():
            if isinstance(m, ResnetBlock):
                nn.init.zeros_(m.conv2.weight)
                nn.init.zeros_(m.conv2.bias)
            elif isinstance(m, AttnBlock):
                nn.init.zeros_(m.proj_out.weight)
                nn.init.zeros_(m.proj_out.bias)
            elif isinstance(m, EncBlock):
                nn.init.zeros_(m.c2.weight)
                nn.init.zeros_(m.c2.bias)

    def decode(self, f_hat, clamp=True):
        """The engine's decode: clamp(decoder(post_quant_conv(f_hat)), -1, 1)."""
        x = self.decoder(self.post_quant_conv(f_hat))
        return x.clamp(-1.0, 1.0) if clamp else x

    def encode(self, images):
        return self.encoder(images)

    @torch.no_grad()
    def tokenize(self, images):
        """images: float [B,3,H,W] in [-1,1] or uint8 [B,H,W,3].

        Returns idx (per scale [B, pn*pn] int64), inputs (teacher-forcing inputs of scales 1..SN-1,
        [B, pn^2, 32] row-major), f_hat [B,32,S,S] (discrete part after all scales), z, and
        residual [B, S*S, 32] = z - f_hat as row-major tokens (the diffusion target is
        clamp(residual / 0.6, -1, 1))."""
        x = to_pm1(images, next(self.parameters()).device)
        z = self.encoder(x)
        q = self.quantize(z)
        B, C, S, _ = z.shape
        res = (z - q["f_hat"]).permute(0, 2, 3, 1).reshape(B, S * S, C)
        return dict(idx=q["idx"], inputs=q["inputs"], f_hat=q["f_hat"], z=z, residual=res)

    def export_state_dict(self):
        """The release's keys, everything the engine reads; encoder and training state dropped."""
        sd = {}
        for k, v in self.state_dict().items():
            if k.startswith("encoder.") or k in ("quantize.usage", "quantize.seeded"):
                continue
            sd["vae." + k] = v.float()
        return sd


def to_pm1(images, device="cpu"):
    if images.dtype == torch.uint8:
        images = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return images.to(device)


_default = None


def tokenize(images, vae=None):
    """Module-level form of HartVAE.tokenize (vae: a HartVAE or a checkpoint path)."""
    global _default
    if vae is None or isinstance(vae, str):
        if _default is None:
            _default = load_checkpoint(vae or os.path.join(os.path.dirname(__file__), "..", "..",
                                                           "runs", "vae", "vae.pt"))
        vae = _default
    return vae.tokenize(images)


def load_checkpoint(path, device="cpu"):
    ck = torch.load(path, map_location=device)
    m = HartVAE(ck["vae_cfg"], ck["patch_nums"]).to(device)
    m.load_state_dict(ck["model"])
    m.eval()
    return m


def tokenizer_config(vae_cfg, patch_nums):
    """tokenizer/config.json: the golden's keys, our values."""
    return {
        "beta": 0.25,
        "ch": vae_cfg["ch"],
        "ch_mult": list(vae_cfg["ch_mult"]),
        "default_qresi_counts": 0,
        "disable_quant_resi": False,
        "double_decoder": False,
        "dropout": 0.0,
        "freeze_codebook_for_hybrid": True,
        "hybrid": True,
        "levels": [8, 8, 8, 6, 5],
        "model_type": "hart_autoencoder_with_disc",
        "quant_conv_ks": 3,
        "quant_resi": vae_cfg["quant_resi"],
        "quantizer_type": "var_hybrid",
        "share_quant_resi": vae_cfg["share_quant_resi"],
        "test_mode": False,
        "using_znorm": False,
        "v_patch_nums": list(patch_nums),
        "vocab_size": vae_cfg["vocab_size"],
        "z_channels": vae_cfg["z_channels"],
    }


def export_tokenizer(vae, out_dir):
    """Writes out_dir/tokenizer/{config.json, model.safetensors} (fp32) and returns the folder."""
    d = os.path.join(out_dir, "tokenizer")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(tokenizer_config(vae.cfg, vae.patch_nums), f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(vae.export_state_dict(), os.path.join(d, "model.safetensors"))
    return d


# ---------------------------------------------------------------------------------------------
# training


def _scenes():
    try:
        import scenes  # noqa: F401

        if hasattr(scenes, "sample_spec") and hasattr(scenes, "render"):
            return scenes
    except ImportError:
        pass
    return None


def _fallback_render(rng, size):
    """Stand-in until scenes.py exists: coloured shapes on a plain background."""
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(rng.integers(1, 4)):
        c = rng.integers(0, 256, 3)
        cx, cy, r = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(4, size / 4)
        if rng.random() < 0.5:
            m = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        else:
            m = (abs(xx - cx) < r) & (abs(yy - cy) < r)
        img[m] = c
    return img


def sample_batch(rng, n, size):
    sc = _scenes()
    imgs = []
    for _ in range(n):
        if sc is not None:
            imgs.append(np.asarray(sc.render(sc.sample_spec(rng), size), np.uint8))
        else:
            imgs.append(_fallback_render(rng, size))
    x = torch.from_numpy(np.stack(imgs))
    return to_pm1(x)


def psnr(a, b):
    """PSNR in dB of images in [-1, 1], measured on [0, 1]."""
    mse = F.mse_loss((a.clamp(-1, 1) + 1) * 0.5, (b + 1) * 0.5).item()
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def train_vae(steps, batch, out_dir, log=print, lr=1e-3, warmup=None, threads=2, seed=None,
              eval_every=100, ckpt_every=200, time_limit=None, time_budget=None):
    """Trains encoder + quantizer + decoder; exports out_dir/tokenizer and out_dir/vae.pt.

    time_budget (seconds): the schedule's progress is max(step/steps, elapsed/time_budget), so on a
    shared, slower CPU the warmup/cosine schedule still completes and training ends on time."""
    seed = config.SEED if seed is None else seed
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    vae = HartVAE().to(dev)
    vae.init_for_training()
    opt = torch.optim.Adam(vae.parameters(), lr=lr, betas=(0.9, 0.99))
    warmup = warmup if warmup is not None else max(1, min(50, steps // 10))

    def progress(s):
        p = s / steps
        if time_budget:
            p = max(p, (time.time() - t0) / time_budget)
        return min(p, 1.0)

    def lr_at(s):
        if s < warmup:
            return lr * (s + 1) / warmup
        p = max(0.0, (progress(s) - warmup / steps) / max(1e-9, 1 - warmup / steps))
        return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))

    eval_rng = np.random.default_rng(seed + 1)
    eval_x = sample_batch(eval_rng, 32, config.IMAGE_SIZE).to(dev)
    scene_src = "scenes.py" if _scenes() is not None else "fallback renderer"
    log(f"vae: {sum(p.numel() for p in vae.parameters())} params, {steps} steps x {batch}, data: {scene_src}, device {dev}")
    t0 = time.time()
    half = batch // 2
    last_step = steps - 1
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x = sample_batch(rng, batch, config.IMAGE_SIZE).to(dev)
        vae.train()
        z = vae.encoder(x)
        q = vae.quantize(z, train=True)
        if not bool(vae.quantize.seeded):
            vae.quantize.seed_codebook()
            q = vae.quantize(z, train=True)
        f_hat = q["f_hat"]
        f_st = f_hat.detach() - z.detach() + z  # straight-through to the encoder
        # Hybrid: half the batch decodes the continuous latent, half the discrete one.
        dec_in = torch.cat([z[:half], f_st[half:]], 0)
        rec = vae.decode(dec_in, clamp=False)
        l_rec = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        commit = F.mse_loss(z, f_hat.detach())
        res = z - f_hat.detach()
        l_box = F.relu(res.abs() - VAE_SCALE).pow(2).mean()  # keep residual / 0.6 inside [-1, 1]
        loss = l_rec + q["vq_loss"] + 0.25 * commit + 1.0 * l_box
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        prog = progress(step + 1)
        if prog >= 1.0:
            last_step = step
        restarted = vae.quantize.restart_dead() if step % 25 == 24 and prog < 0.9 else 0
        if step % 10 == 0 or step == last_step:
            el = time.time() - t0
            log(f"step {step} loss {loss.item():.4f} rec {l_rec.item():.4f} vq {q['vq_loss'].item():.4f} "
                f"commit {commit.item():.4f} box {l_box.item():.5f} restarted {restarted} "
                f"lr {lr_at(step):.2e} {el / (step + 1):.2f}s/step")
        if (step + 1) % eval_every == 0 or step == last_step:
            ev = evaluate(vae, eval_x)
            log("eval " + json.dumps(ev))
        if (step + 1) % ckpt_every == 0 or step == last_step:
            save_checkpoint(vae, os.path.join(out_dir, "vae.pt"), step + 1)
        if step == last_step:
            break
        if time_limit is not None and time.time() - t0 > time_limit:
            log(f"time limit reached at step {step}")
            save_checkpoint(vae, os.path.join(out_dir, "vae.pt"), step + 1)
            break
    vae.eval()
    ev = evaluate(vae, eval_x)
    log("final " + json.dumps(ev))
    export_tokenizer(vae, out_dir)
    with open(os.path.join(out_dir, "vae_eval.json"), "w") as f:
        json.dump(ev, f, indent=2)
    log(f"exported {out_dir}/tokenizer in {time.time() - t0:.0f}s")
    return vae


def save_checkpoint(vae, path, step):
    torch.save({"model": vae.state_dict(), "vae_cfg": vae.cfg, "patch_nums": vae.patch_nums,
                "step": step}, path + ".tmp")
    os.replace(path + ".tmp", path)


@torch.no_grad()
def evaluate(vae, x):
    was = vae.training
    vae.eval()
    t = vae.tokenize(x)
    z, f_hat = t["z"], t["f_hat"]
    rz, rf = vae.decode(z), vae.decode(f_hat)
    res = t["residual"] / VAE_SCALE
    used = torch.zeros(vae.quantize.V, dtype=torch.bool)
    for idx in t["idx"]:
        used[idx.reshape(-1).cpu()] = True
    alive = int((vae.quantize.usage > 0.03).sum())
    vae.train(was)
    return {
        "psnr_z": round(psnr(rz, x), 2),
        "psnr_fhat": round(psnr(rf, x), 2),
        "codes_used_eval": int(used.sum()),
        "codes_alive_ema": alive,
        "vocab": vae.quantize.V,
        "z_absmax": round(z.abs().max().item(), 3),
        "z_std": round(z.std().item(), 3),
        "residual_over_0.6_frac": round((res.abs() > 1).float().mean().item(), 5),
        "residual_std": round(t["residual"].std().item(), 4),
    }


@torch.no_grad()
def write_recon_grid(vae, path, n=8, seed=None):
    """PNG rows: held-out scenes, decode(z), decode(f_hat) (the engine's clamp)."""
    from PIL import Image

    x = sample_batch(np.random.default_rng((config.SEED if seed is None else seed) + 1), n,
                     config.IMAGE_SIZE)
    t = vae.tokenize(x)
    rows = [x, vae.decode(t["z"]), vae.decode(t["f_hat"])]
    g = np.concatenate([np.concatenate([((im.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)
                                        .astype(np.uint8) for im in r], 1) for r in rows], 0)
    Image.fromarray(g).save(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=None, help="seconds; stop early and export")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds; the lr schedule follows elapsed time too and training ends by then")
    ap.add_argument("--out", default="runs/vae")
    ap.add_argument("--export-only", default=None, help="checkpoint to export to --out/tokenizer")
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and exit")
    ap.add_argument("--show", nargs=2, metavar=("CKPT", "PNG"), help="write a reconstruction grid")
    a = ap.parse_args()

    def log(s):
        print(s, flush=True)

    if a.show:
        torch.set_num_threads(a.threads)
        write_recon_grid(load_checkpoint(a.show[0]), a.show[1])
        return
    if a.export_only:
        vae = load_checkpoint(a.export_only)
        log(f"exported {export_tokenizer(vae, a.out)}")
        return
    if a.bench:
        torch.set_num_threads(a.threads)
        train_vae(a.bench, a.batch, a.out, log=log, lr=a.lr, threads=a.threads, eval_every=10 ** 9,
                  ckpt_every=10 ** 9)
        return
    train_vae(a.steps, a.batch, a.out, log=log, lr=a.lr, threads=a.threads, time_limit=a.time_limit,
              time_budget=a.time_budget)


if __name__ == "__main__":
    main()
