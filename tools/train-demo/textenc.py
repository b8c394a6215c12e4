"""The demo model's text side: a seeded random Qwen2 folder, and the product's prompt path in torch.

`make_random_qwen2(out_dir)` writes a Qwen2 folder (config.json, model.safetensors in BF16 with the
Hugging Face key names, tokenizer.json) that `hart` loads as its text model. `TextEncoder(dir)`
computes what the engine computes for a prompt (hart-spec.md 1.2, 1.3 in fp32, 5.1-5.4;
engine/src/tokenizer.c, prompt.c, text_encoder.c, qwen2.c):

  ids      = BPE(caption)[:n_ctx] right-padded with <|endoftext|> (151643) to n_ctx
  mask     = ids != 151643;  ctx_pos = cumsum(mask) - 1
  Qwen2 input = system_ids ++ ids, attention mask ones(n_sys) ++ mask, positions 0..T-1
  ctx      = final-RMSNorm hidden states at the n_ctx prompt positions (fp32)

The tokenizer is a byte-level BPE read from tokenizer.json: added tokens matched leftmost-longest
in the raw text, NFC, the Qwen2 split regex ("Isolated"), GPT-2's byte-to-unicode map, merges by
rank. No BOS/EOS.

Also holds a minimal safetensors reader/writer (Debian's python3 has no `safetensors` module).
"""

import json
import os
import shutil
import struct
import sys
import unicodedata

import numpy as np
import regex
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
TOKENIZER_JSON = os.path.join(SHARED, "text", "tokenizer.json")

PAD_TOKEN = "<|endoftext|>"

# HART's LLM system prompt (hart/utils/constants.py `llm_system_prompt`), verbatim as in
# engine/src/system_prompt.c: 705 ASCII characters ending in "User Prompt:\n". test_data.py checks
# it against the C source and shared/text/tokens.json.
SYSTEM_PROMPT = (
    'Given a user prompt, generate an "Enhanced prompt" that provides detailed visual descriptions'
    " suitable for image generation.\n"
    "\n"
    "Examples:\n"
    "- User Prompt: A cat sleeping -> A small, fluffy white cat curled up in a round shape, sleeping"
    " peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.\n"
    "- User Prompt: A busy city street -> A bustling city street scene at dusk, featuring glowing"
    " street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing"
    " by towering glass skyscrapers.\n"
    "\n"
    "Please generate only the enhanced description for the prompt below and DO NOT include any"
    ' additional sentences. Start your response with "Enhanced Prompt:".\n'
    "\n"
    "User Prompt:\n"
)

# ---------------------------------------------------------------------------------------------- #
# safetensors

_ST_DTYPES = {
    "F32": (np.float32, 4),
    "F16": (np.float16, 2),
    "BF16": (np.uint16, 2),
    "I64": (np.int64, 8),
    "I32": (np.int32, 4),
    "BOOL": (np.bool_, 1),
    "U8": (np.uint8, 1),
}


def read_safetensors(path):
    """{name: torch tensor}; BF16 is widened to fp32 exactly, other dtypes kept."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        np_dt, _ = _ST_DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np_dt).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(arr.copy())
    return out


def bf16_bits(t):
    """torch tensor -> uint16 numpy array of its bf16 values (round to nearest even, as torch)."""
    return t.detach().to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def write_safetensors(path, tensors, bf16=()):
    """Writes {name: torch tensor or numpy array}; names in `bf16` are stored as BF16."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if name in bf16:
            arr, dt = bf16_bits(torch.as_tensor(t)), "BF16"
        else:
            arr = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
            dt = {np.dtype(v[0]): k for k, v in _ST_DTYPES.items() if k != "BF16"}[arr.dtype]
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = dict(dtype=dt, shape=list(arr.shape), data_offsets=[off, off + len(raw)])
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


# ---------------------------------------------------------------------------------------------- #
# Tokenizer


def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters (printable ASCII/Latin-1 map to themselves)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class Tokenizer:
    """Byte-level BPE as the engine runs it (engine/src/tokenizer.c), from a tokenizer.json."""

    def __init__(self, path=TOKENIZER_JSON):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"{path}: BPE model expected")
        self.vocab = model["vocab"]
        self.ranks = {}
        for rank, m in enumerate(model["merges"]):
            left, right = m.split(" ") if isinstance(m, str) else m
            self.ranks.setdefault((left, right), rank)
        self.byte_char = bytes_to_unicode()
        self.added = {t["content"]: (t["id"], bool(t.get("normalized", False))) for t in tj["added_tokens"]}
        norm = tj.get("normalizer") or {}
        self.nfc = norm.get("type") == "NFC" or any(
            n.get("type") == "NFC" for n in norm.get("normalizers", [])
        )
        self.split_re = regex.compile(self._find_split_regex(tj["pre_tokenizer"]))
        self.pad_id = self.added[PAD_TOKEN][0]
        self._word_cache = {}

    @staticmethod
    def _find_split_regex(pre):
        stack = [pre]
        while stack:
            p = stack.pop()
            if p.get("type") == "Split":
                if p.get("behavior") != "Isolated" or p.get("invert"):
                    raise ValueError("only an Isolated, non-inverted Split is implemented")
                return p["pattern"]["Regex"]
            stack.extend(p.get("pretokenizers", []))
        raise ValueError("tokenizer.json has no Split pre-tokenizer")

    def _bpe(self, word):
        """Ids of one pre-token: lowest-rank pair first, leftmost among equal ranks."""
        ids = self._word_cache.get(word)
        if ids is not None:
            return ids
        syms = [self.byte_char[b] for b in word.encode("utf-8")]
        while len(syms) > 1:
            best, at = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            syms[at : at + 2] = [syms[at] + syms[at + 1]]
        ids = [self.vocab[s] for s in syms]
        self._word_cache[word] = ids
        return ids

    def _pre_tokenize(self, text, out):
        # "Isolated": the matches and the gaps between them are all pieces.
        pos = 0
        for m in self.split_re.finditer(text):
            if m.start() == m.end():
                continue
            if m.start() > pos:
                out.extend(self._bpe(text[pos : m.start()]))
            out.extend(self._bpe(m.group()))
            pos = m.end()
        if pos < len(text):
            out.extend(self._bpe(text[pos:]))

    def _split_added(self, text, normalized, rest, out):
        """Added tokens of one kind, leftmost-longest; the text between them goes to rest."""
        tokens = [(c, i) for c, (i, n) in self.added.items() if n == normalized]
        start, i = 0, 0
        while i < len(text):
            best = None
            for c, tid in tokens:
                if text.startswith(c, i) and (best is None or len(c) > len(best[0])):
                    best = (c, tid)
            if best is None:
                i += 1
                continue
            if i > start:
                rest(text[start:i], out)
            out.append(best[1])
            start = i = i + len(best[0])
        if start < len(text):
            rest(text[start:], out)

    def _normalized_segment(self, text, out):
        if self.nfc:
            text = unicodedata.normalize("NFC", text)
        self._split_added(text, True, self._pre_tokenize, out)

    def encode(self, text):
        out = []
        self._split_added(text, False, self._normalized_segment, out)
        return out

    def context_ids(self, text, n_ctx):
        """HART's ids, mask and positions: first n_ctx ids, right-padded with the pad id."""
        ids = self.encode(text)[:n_ctx]
        ids = ids + [self.pad_id] * (n_ctx - len(ids))
        mask = [i != self.pad_id for i in ids]
        pos = list(np.cumsum(mask) - 1)
        return ids, mask, pos


# ---------------------------------------------------------------------------------------------- #
# Qwen2 (fp32, eager attention: the math of hart-spec 1.3 without the fp16 autocast)


def load_qwen2_config(path):
    with open(path) as f:
        c = json.load(f)
    theta = c.get("rope_theta", (c.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    return dict(
        hidden_size=c["hidden_size"],
        intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_hidden_layers"],
        num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c.get("num_key_value_heads", c["num_attention_heads"]),
        head_dim=c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"],
        rms_norm_eps=c["rms_norm_eps"],
        rope_theta=float(theta),
        vocab_size=c["vocab_size"],
    )


def _rmsnorm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def qwen2_forward(weights, cfg, ids, attn_mask):
    """Last hidden states (after the final RMSNorm) [B, T, hidden], fp32.

    ids [B, T] int64, attn_mask [B, T] bool. Query i sees key j iff j <= i and attn_mask[j]
    (Hugging Face Qwen2 with padding: additive mask of fp32's lowest value, so a query with no
    visible key averages over all keys, as eager attention does). Positions are 0..T-1.
    """
    W = weights
    pre = "model." if "model.embed_tokens.weight" in W else ""
    B, T = ids.shape
    H, KVH, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    x = W[pre + "embed_tokens.weight"][ids]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), dim=-1)
    cos, sin = ang.cos(), ang.sin()
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    visible = causal[None, :, :] & attn_mask[:, None, :].bool()
    bias = torch.zeros(B, 1, T, T).masked_fill(~visible[:, None], torch.finfo(torch.float32).min)
    for l in range(cfg["num_hidden_layers"]):
        p = f"{pre}layers.{l}."
        h = _rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = torch.nn.functional.linear(h, W[p + "self_attn.q_proj.weight"], W[p + "self_attn.q_proj.bias"])
        k = torch.nn.functional.linear(h, W[p + "self_attn.k_proj.weight"], W[p + "self_attn.k_proj.bias"])
        v = torch.nn.functional.linear(h, W[p + "self_attn.v_proj.weight"], W[p + "self_attn.v_proj.bias"])
        q = q.view(B, T, H, hd).transpose(1, 2)
        k = k.view(B, T, KVH, hd).transpose(1, 2)
        v = v.view(B, T, KVH, hd).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=1)
        v = v.repeat_interleave(H // KVH, dim=1)
        s = torch.matmul(q, k.transpose(2, 3)) * (hd**-0.5) + bias
        o = torch.matmul(torch.softmax(s, dim=-1, dtype=torch.float32), v)
        o = o.transpose(1, 2).reshape(B, T, H * hd)
        x = x + torch.nn.functional.linear(o, W[p + "self_attn.o_proj.weight"])
        h = _rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.linear(h, W[p + "mlp.gate_proj.weight"])
        u = torch.nn.functional.linear(h, W[p + "mlp.up_proj.weight"])
        x = x + torch.nn.functional.linear(torch.nn.functional.silu(g) * u, W[p + "mlp.down_proj.weight"])
    return _rmsnorm(x, W[pre + "norm.weight"], eps)


# ---------------------------------------------------------------------------------------------- #
# The demo's random Qwen2 folder


def _config_json(q):
    # The layout of a Qwen2 config as transformers writes it (cf. shared/text/qwen2-tiny).
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_act": "silu",
        "hidden_size": q["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": q["intermediate_size"],
        "max_position_embeddings": 32768,
        "max_window_layers": 28,
        "model_type": "qwen2",
        "num_attention_heads": q["num_attention_heads"],
        "num_hidden_layers": q["num_hidden_layers"],
        "num_key_value_heads": q["num_key_value_heads"],
        "rms_norm_eps": q["rms_norm_eps"],
        "rope_theta": q["rope_theta"],
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": q["vocab_size"],
    }


def random_qwen2_weights(q=config.QWEN2):
    """HF's initialisation: linears and embedding N(0, 0.02), biases 0, norm weights 1."""
    gen = torch.Generator().manual_seed(q["seed"])
    C, I = q["hidden_size"], q["intermediate_size"]
    hd = C // q["num_attention_heads"]
    Q, KV = q["num_attention_heads"] * hd, q["num_key_value_heads"] * hd

    def normal(*shape):
        return torch.empty(*shape).normal_(0.0, 0.02, generator=gen)

    W = {"model.embed_tokens.weight": normal(q["vocab_size"], C)}
    for l in range(q["num_hidden_layers"]):
        p = f"model.layers.{l}."
        W[p + "input_layernorm.weight"] = torch.ones(C)
        W[p + "post_attention_layernorm.weight"] = torch.ones(C)
        W[p + "self_attn.q_proj.weight"] = normal(Q, C)
        W[p + "self_attn.q_proj.bias"] = torch.zeros(Q)
        W[p + "self_attn.k_proj.weight"] = normal(KV, C)
        W[p + "self_attn.k_proj.bias"] = torch.zeros(KV)
        W[p + "self_attn.v_proj.weight"] = normal(KV, C)
        W[p + "self_attn.v_proj.bias"] = torch.zeros(KV)
        W[p + "self_attn.o_proj.weight"] = normal(C, Q)
        W[p + "mlp.gate_proj.weight"] = normal(I, C)
        W[p + "mlp.up_proj.weight"] = normal(I, C)
        W[p + "mlp.down_proj.weight"] = normal(C, I)
    W["model.norm.weight"] = torch.ones(C)
    return W


def make_random_qwen2(out_dir, tokenizer_json=TOKENIZER_JSON):
    """Writes the seeded random Qwen2 folder (config.json, model.safetensors BF16, tokenizer.json)."""
    os.makedirs(out_dir, exist_ok=True)
    W = random_qwen2_weights()
    write_safetensors(os.path.join(out_dir, "model.safetensors"), W, bf16=set(W))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(_config_json(config.QWEN2), f, indent=2)
        f.write("\n")
    shutil.copyfile(tokenizer_json, os.path.join(out_dir, "tokenizer.json"))
    return out_dir


class TextEncoder:
    """The engine's prompt path for a Qwen2 folder. encode(captions) -> (ctx, mask, ctx_pos).

    ctx [N, n_ctx, hidden] fp32, mask [N, n_ctx] bool, ctx_pos [N, n_ctx] int64; results are
    cached per caption (the encoder is frozen).
    """

    def __init__(self, qwen_dir, n_ctx=config.GPT["context_token"], use_system_prompt=True, tokenizer_json=None):
        self.cfg = load_qwen2_config(os.path.join(qwen_dir, "config.json"))
        self.weights = read_safetensors(os.path.join(qwen_dir, "model.safetensors"))
        self.weights = {k: v.float() for k, v in self.weights.items()}
        self.tok = Tokenizer(tokenizer_json or os.path.join(qwen_dir, "tokenizer.json"))
        self.n_ctx = n_ctx
        self.sys_ids = self.tok.encode(SYSTEM_PROMPT)[:300] if use_system_prompt else []
        self._cache = {}

    def _encode_uncached(self, captions):
        rows, masks, poss = [], [], []
        for c in captions:
            if not c:
                raise ValueError("the prompt is empty")  # as hart_text_input_build refuses it
            ids, mask, pos = self.tok.context_ids(c, self.n_ctx)
            if not any(mask):
                raise ValueError(f"the prompt {c!r} has no tokens other than padding")
            rows.append(self.sys_ids + ids)
            masks.append(mask)
            poss.append(pos)
        n_sys = len(self.sys_ids)
        ids = torch.tensor(rows, dtype=torch.int64)
        mask = torch.tensor(masks, dtype=torch.bool)
        attn = torch.cat([torch.ones(len(rows), n_sys, dtype=torch.bool), mask], dim=1)
        with torch.no_grad():
            hid = qwen2_forward(self.weights, self.cfg, ids, attn)
        return hid[:, n_sys:].contiguous(), mask, torch.tensor(poss, dtype=torch.int64)

    def encode(self, captions, batch=64):
        if isinstance(captions, str):
            captions = [captions]
        todo = list(dict.fromkeys(c for c in captions if c not in self._cache))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            ctx, mask, pos = self._encode_uncached(part)
            for j, c in enumerate(part):
                self._cache[c] = (ctx[j], mask[j], pos[j])
        got = [self._cache[c] for c in captions]
        return tuple(torch.stack([g[k] for g in got]) for k in range(3))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="write the demo's random Qwen2 folder")
    ap.add_argument("out_dir")
    make_random_qwen2(ap.parse_args().out_dir)
