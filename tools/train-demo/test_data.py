"""Checks of the demo recipe's data side (scenes.py, textenc.py). Run: /usr/bin/python3 test_data.py

(a) the BPE tokenizer gives shared/text/tokens.json's ids for every recorded text;
(b) the torch Qwen2 reproduces shared/text/qwen2-tiny/golden.safetensors;
(c) `hart encode` on the exported random Qwen2 folder equals TextEncoder.encode (needs the engine
    built: $HART, or build-data/engine/hart or build/engine/hart in the worktree; skipped otherwise);
(d) scenes are deterministic, laid out as documented, and held-out captions never reach training.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import config  # noqa: E402
import scenes  # noqa: E402
import textenc  # noqa: E402

torch.set_num_threads(1)

TEXT = os.path.join(textenc.SHARED, "text")
SEMANTIC_JSON = os.path.join(textenc.REPO, "tests", "data", "demo-semantic.json")

# shared/text/README.md: a correct fp32 implementation agrees with the golden to about 1e-5.
GOLDEN_TOL = 1e-5
# The engine's CPU backend is fp32 too, with other summation orders: values are O(1) and the
# rounding differences ~1e-6, while a real divergence (a wrong mask, position or weight) is O(0.1).
ENGINE_TOL = 1e-5


def find_hart():
    cands = [os.environ.get("HART")] + [
        os.path.join(textenc.REPO, d, "engine", "hart") for d in ("build-data", "build")
    ]
    return next((c for c in cands if c and os.access(c, os.X_OK)), None)


_TOK = None


def tokenizer():
    global _TOK
    if _TOK is None:
        _TOK = textenc.Tokenizer(os.path.join(TEXT, "tokenizer.json"))
    return _TOK


class TokenizerTest(unittest.TestCase):
    def test_recorded_ids(self):
        with open(os.path.join(TEXT, "tokens.json"), encoding="utf-8") as f:
            rec = json.load(f)
        tok = tokenizer()
        self.assertEqual(tok.pad_id, rec["pad_id"])
        self.assertEqual(tok.encode(rec["system_prompt"]), rec["system_ids"])
        for i, case in enumerate(rec["cases"]):
            with self.subTest(case=i, prompt=case["prompt"][:40]):
                self.assertEqual(tok.encode(case["prompt"]), case["ids"])
                ids, mask, pos = tok.context_ids(case["prompt"], rec["max_length"])
                self.assertEqual(ids, case["ids_300"])
                self.assertEqual(list(np.cumsum(mask) - 1), pos)
        print(f"\n  (a) {len(rec['cases'])} prompts + system prompt: ids identical", file=sys.stderr)

    def test_system_prompt_is_the_engines(self):
        # The Python literal equals the recorded string and the C string of the engine.
        with open(os.path.join(TEXT, "tokens.json"), encoding="utf-8") as f:
            self.assertEqual(textenc.SYSTEM_PROMPT, json.load(f)["system_prompt"])
        with open(os.path.join(textenc.REPO, "engine", "src", "system_prompt.c")) as f:
            src = f.read()
        body = src.split("system_prompt[] =", 1)[1].split(";", 1)[0]
        c_string = "".join(
            bytes(s, "ascii").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', body)
        )
        self.assertEqual(textenc.SYSTEM_PROMPT, c_string)
        self.assertEqual(
            hashlib.sha256(c_string.encode()).hexdigest(),
            "424f7aa7b1119f8ed1e329140e5941dfe308183bea0af59041dad5527a9b8f20",
        )

    def test_captions_fit_the_context(self):
        # The longest wording of the longest scenes (three shapes, two-colour backgrounds) keeps
        # every caption within context_token ids, so no caption is cut.
        tok, worst = tokenizer(), 0
        for kind in ("plain", "gradient", "stripes"):
            spec = scenes.sample_spec(np.random.default_rng(0), n_shapes=3, background_kind=kind)
            spec["background"]["colors"] = ["orange"] * len(spec["background"]["colors"])
            for s in spec["shapes"]:
                s["size"], s["color"], s["shape"] = "small", "purple", "triangle"
            for seed in range(64):
                worst = max(worst, len(tok.encode(scenes.caption(spec, np.random.default_rng(seed)))))
        self.assertLessEqual(worst, config.GPT["context_token"])
        print(f"\n  longest caption: {worst} ids (context_token {config.GPT['context_token']})", file=sys.stderr)


class GoldenQwen2Test(unittest.TestCase):
    def test_qwen2_tiny(self):
        gold = textenc.read_safetensors(os.path.join(TEXT, "qwen2-tiny", "golden.safetensors"))
        with open(os.path.join(TEXT, "tokens.json"), encoding="utf-8") as f:
            prompts = [c["prompt"] for c in json.load(f)["cases"]]
        tj = os.path.join(TEXT, "tokenizer.json")
        qdir = os.path.join(TEXT, "qwen2-tiny")
        enc = textenc.TextEncoder(qdir, n_ctx=300, tokenizer_json=tj)
        enc_nosys = textenc.TextEncoder(qdir, n_ctx=300, use_system_prompt=False, tokenizer_json=tj)
        cases = sorted({int(k.split(".")[0][4:]) for k in gold})
        self.assertEqual(cases, [0, 1, 2, 21])
        worst = 0.0
        for n in cases:
            with self.subTest(case=n):
                g = lambda name: gold[f"case{n}.{name}"][0]  # noqa: E731
                ctx, mask, pos = enc.encode([prompts[n]])
                ids = enc.sys_ids + enc.tok.context_ids(prompts[n], 300)[0]
                self.assertEqual(ids, g("input_ids").tolist())
                self.assertTrue(torch.equal(mask[0], g("context_mask")))
                self.assertTrue(torch.equal(pos[0], g("context_position_ids")))
                e1 = (ctx[0] - g("context_tensor")).abs().max().item()
                ctx2, _, _ = enc_nosys.encode([prompts[n]])
                e2 = (ctx2[0] - g("context_tensor_no_system_prompt")).abs().max().item()
                self.assertLess(e1, GOLDEN_TOL)
                self.assertLess(e2, GOLDEN_TOL)
                worst = max(worst, e1, e2)
        print(f"\n  (b) qwen2-tiny golden, 4 cases x (system, no system): max abs err {worst:.2e}", file=sys.stderr)


class EngineParityTest(unittest.TestCase):
    def test_hart_encode_equals_textenc(self):
        hart = find_hart()
        if hart is None:
            self.skipTest("no hart binary (set $HART or build build-data/engine/hart)")
        n_ctx = config.GPT["context_token"]
        rng = np.random.default_rng(5)
        captions = [scenes.sample_training(rng)[1] for _ in range(4)]
        captions.append(
            "a small yellow triangle in the middle, a small purple square at the bottom and a small "
            "orange circle on the left, on a striped purple and orange background"
        )
        with tempfile.TemporaryDirectory() as tmp:
            qdir = textenc.make_random_qwen2(os.path.join(tmp, config.QWEN_DIR))
            enc = textenc.TextEncoder(qdir)
            ctx, mask, pos = enc.encode(captions)
            worst = 0.0
            for i, c in enumerate(captions):
                out = os.path.join(tmp, f"enc{i}.safetensors")
                subprocess.run(
                    [hart, "encode", f"--text-model={qdir}", f"--prompt={c}", f"--context-tokens={n_ctx}",
                     "--threads=1", f"--out={out}"],
                    check=True, capture_output=True,
                )
                got = textenc.read_safetensors(out)
                with self.subTest(caption=c):
                    self.assertTrue(torch.equal(got["context_mask"][0], mask[i]))
                    self.assertTrue(torch.equal(got["context_position_ids"][0], pos[i]))
                    self.assertEqual(tuple(got["context_tensor"].shape), (1, n_ctx, enc.cfg["hidden_size"]))
                    err = (got["context_tensor"][0] - ctx[i]).abs().max().item()
                    self.assertLess(err, ENGINE_TOL)
                    worst = max(worst, err)
        print(f"\n  (c) hart encode vs TextEncoder, {len(captions)} captions: max abs err {worst:.2e}"
              f" (tolerance {ENGINE_TOL:g}; |ctx| max {ctx.abs().max().item():.2f})", file=sys.stderr)

    def test_random_qwen2_is_seeded(self):
        a = textenc.random_qwen2_weights()
        b = textenc.random_qwen2_weights()
        self.assertTrue(all(torch.equal(a[k], b[k]) for k in a))
        self.assertAlmostEqual(a["model.embed_tokens.weight"].std().item(), 0.02, delta=1e-3)


class ScenesTest(unittest.TestCase):
    def test_deterministic(self):
        def run(seed):
            rng = np.random.default_rng(seed)
            out = []
            for _ in range(20):
                spec, text = scenes.sample_training(rng)
                out.append((json.dumps(spec, sort_keys=True), text, scenes.render(spec).tobytes()))
            return out

        self.assertEqual(run(3), run(3))
        self.assertNotEqual(run(3), run(4))

    def test_render(self):
        spec, _ = scenes.sample_training(np.random.default_rng(0))
        img = scenes.render(spec)
        self.assertEqual(img.shape, (config.IMAGE_SIZE, config.IMAGE_SIZE, 3))
        self.assertEqual(img.dtype, np.uint8)

    def test_shapes_stay_in_their_regions(self):
        # Each shape drawn alone on a plain background colours pixels only inside its position's
        # box (so shapes never overlap), and does colour some pixels there.
        rng = np.random.default_rng(11)
        n = config.IMAGE_SIZE
        for _ in range(150):
            spec = scenes.sample_spec(rng)
            bg = spec["background"]["colors"][0]
            for s in spec["shapes"]:
                alone = dict(background=dict(kind="plain", colors=[bg]), shapes=[s])
                diff = np.abs(scenes.render(alone).astype(int) - np.array(scenes.PALETTE[bg])).sum(-1) > 0
                ys, xs = np.nonzero(diff)
                x0, y0, x1, y1 = scenes.REGIONS[s["position"]]
                self.assertGreater(len(xs), 4, s)
                self.assertTrue(xs.min() >= int(x0 * n) and xs.max() < int(np.ceil(x1 * n)), s)
                self.assertTrue(ys.min() >= int(y0 * n) and ys.max() < int(np.ceil(y1 * n)), s)

    def test_scene_rules(self):
        rng = np.random.default_rng(12)
        counts = np.zeros(4)
        for _ in range(2000):
            spec = scenes.sample_spec(rng)
            shapes, bg = spec["shapes"], spec["background"]
            counts[len(shapes)] += 1
            positions = [s["position"] for s in shapes]
            self.assertEqual(len(set(positions)), len(positions))
            for s in shapes:
                self.assertNotIn(s["color"], bg["colors"])
        frac = counts / counts.sum()
        self.assertAlmostEqual(frac[1], 0.6, delta=0.04)
        self.assertAlmostEqual(frac[2], 0.3, delta=0.04)

    def test_held_out_never_trained(self):
        rng = np.random.default_rng(13)
        for _ in range(5000):
            spec, text = scenes.sample_training(rng)
            self.assertFalse(scenes.is_held_out(text))
            self.assertFalse(scenes.is_held_out(scenes.caption(spec)))
        # The split is a fixed fraction (~3%) of caption strings, the same on every run.
        rng = np.random.default_rng(14)
        texts = [scenes.caption(scenes.sample_spec(rng), rng) for _ in range(20000)]
        frac = np.mean([scenes.is_held_out(t) for t in texts])
        self.assertAlmostEqual(frac, 0.03, delta=0.006)
        self.assertTrue(scenes.is_held_out("a big purple ring in the center on a blue background"))

    def test_semantic_file_is_current(self):
        with open(SEMANTIC_JSON) as f:
            data = json.load(f)
        with tempfile.TemporaryDirectory() as tmp:
            fresh = scenes.export_semantic(os.path.join(tmp, "s.json"))
            with open(os.path.join(tmp, "s.json")) as f:
                self.assertEqual(json.load(f), data)
        self.assertEqual(len(fresh["cases"]), 40)
        self.assertEqual([c["seed"] for c in data["cases"]], list(range(1, 41)))
        for c in data["cases"]:
            self.assertTrue(scenes.is_held_out(c["prompt"]))
            self.assertIn(len(c["shapes"]), (1, 2))
        plain = sum(c["background"] is not None for c in data["cases"])
        self.assertGreaterEqual(plain, 30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
