"""Procedural scenes and their captions: the demo model's training data (issue #10).

A scene is one to three flat shapes on a plain, gradient or striped background. Everything is drawn
from a numpy Generator, so a seed gives the same scene, image and caption on every machine.

Layout: the five positions own five disjoint boxes (a plus sign of 0.3 x 0.3 boxes), and a shape,
jitter included, always stays inside the box of its position. Positions are distinct within a scene,
so shapes never overlap, and a semantic test can look for a colour inside `REGIONS[position]`.

API: sample_spec(rng), render(spec, size), caption(spec, rng=None), is_held_out(caption),
sample_training(rng). CLI: --grid out.png, --export-semantic tests/data/demo-semantic.json.
"""

import argparse
import hashlib
import json
import math
import os
import re
import sys

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import config  # noqa: E402

# Well separated colours: every pair differs by at least ~80 in some channel.
PALETTE = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 225, 30),
    "green": (30, 160, 50),
    "cyan": (40, 205, 225),
    "blue": (30, 60, 215),
    "purple": (135, 45, 185),
    "pink": (250, 135, 195),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLORS = list(PALETTE)
SHAPES = ["circle", "square", "triangle", "star", "ring"]
SIZES = ["small", "big"]
POSITIONS = ["left", "right", "top", "bottom", "center"]

# Box centres (fractions of the image, x to the right, y down) and the boxes' half width.
ANCHORS = {
    "left": (0.2, 0.5),
    "right": (0.8, 0.5),
    "top": (0.5, 0.2),
    "bottom": (0.5, 0.8),
    "center": (0.5, 0.5),
}
BOX_HALF = 0.15
# Half extent of a shape and the largest jitter of its centre; half + jitter <= BOX_HALF.
SIZE_HALF = {"small": 0.08, "big": 0.14}
SIZE_JITTER = {"small": 0.05, "big": 0.01}
REGIONS = {
    p: [round(x - BOX_HALF, 4), round(y - BOX_HALF, 4), round(x + BOX_HALF, 4), round(y + BOX_HALF, 4)]
    for p, (x, y) in ANCHORS.items()
}

STRIPE_PERIOD = 8 / 64  # one stripe pair per 8 pixels at 64 px (vertical stripes)
SUPERSAMPLE = 4
HELD_OUT_PER_MILLE = 30  # ~3% of captions are kept out of training

N_SHAPES_P = [0.6, 0.3, 0.1]
BACKGROUND_KINDS = ["plain", "gradient", "stripes"]
BACKGROUND_P = [0.6, 0.2, 0.2]


def _choice(rng, items, p=None):
    return items[int(rng.choice(len(items), p=p))]


def sample_spec(rng, n_shapes=None, background_kind=None):
    """A random scene as a plain dict (JSON-serialisable)."""
    if n_shapes is None:
        n_shapes = 1 + int(rng.choice(3, p=N_SHAPES_P))
    if background_kind is None:
        background_kind = _choice(rng, BACKGROUND_KINDS, BACKGROUND_P)
    n_bg = 1 if background_kind == "plain" else 2
    # Background colours first; shapes take distinct colours that are none of them.
    order = rng.permutation(len(COLORS))
    bg_colors = [COLORS[i] for i in order[:n_bg]]
    shape_colors = [COLORS[i] for i in order[n_bg : n_bg + n_shapes]]
    positions = [POSITIONS[i] for i in rng.permutation(len(POSITIONS))[:n_shapes]]
    shapes = []
    for color, position in zip(shape_colors, positions):
        kind = _choice(rng, SHAPES)
        size = _choice(rng, SIZES)
        j = SIZE_JITTER[size]
        ax, ay = ANCHORS[position]
        dx, dy = rng.uniform(-j, j, size=2)
        shapes.append(
            dict(shape=kind, color=color, size=size, position=position, cx=float(ax + dx), cy=float(ay + dy))
        )
    return dict(background=dict(kind=background_kind, colors=bg_colors), shapes=shapes)


# ---------------------------------------------------------------------------------------------- #
# Rendering


def _background(bg, n):
    c = [np.array(PALETTE[name], dtype=np.float64) for name in bg["colors"]]
    if bg["kind"] == "plain":
        img = np.broadcast_to(c[0], (n, n, 3))
    elif bg["kind"] == "gradient":
        # Top row c1, bottom row c2, linear in the pixel centres.
        t = ((np.arange(n) + 0.5) / n)[:, None, None]
        img = np.broadcast_to((1 - t) * c[0] + t * c[1], (n, n, 3))
    elif bg["kind"] == "stripes":
        period = STRIPE_PERIOD * n
        x = np.arange(n) + 0.5
        first = (np.floor(x / (period / 2)) % 2 == 0)[None, :, None]
        img = np.where(first, c[0], c[1])
        img = np.broadcast_to(img, (n, n, 3))
    else:
        raise ValueError(f"unknown background kind {bg['kind']!r}")
    return Image.fromarray(np.ascontiguousarray(np.round(img).astype(np.uint8)))


def _star_points(cx, cy, r, inner=0.45):
    pts = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * inner
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def _draw_shape(draw, s, n, bg_img):
    fill = PALETTE[s["color"]]
    cx, cy, r = s["cx"] * n, s["cy"] * n, SIZE_HALF[s["size"]] * n
    kind = s["shape"]
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif kind == "square":
        h = r * 0.88  # a bit inside the box so its area is close to the circle's
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
    elif kind == "triangle":
        # Upright, spanning the full box height, base as wide as the box.
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)
    elif kind == "star":
        # Centre the five-pointed star's vertical extent (r up, r*cos36 down) in the box.
        dy = r * (1 - math.cos(math.pi / 5)) / 2
        draw.polygon(_star_points(cx, cy + dy, r), fill=fill)
    elif kind == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        ri = r * 0.55
        # The hole shows the background (gradient or stripes included).
        mask = Image.new("L", bg_img.size, 0)
        ImageDraw.Draw(mask).ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=255)
        return mask
    else:
        raise ValueError(f"unknown shape {kind!r}")
    return None


def render(spec, size=config.IMAGE_SIZE):
    """The scene as uint8 [size, size, 3], anti-aliased (drawn 4x larger, then box-filtered)."""
    n = size * SUPERSAMPLE
    bg = _background(spec["background"], n)
    img = bg.copy()
    draw = ImageDraw.Draw(img)
    for s in spec["shapes"]:
        hole = _draw_shape(draw, s, n, bg)
        if hole is not None:
            img.paste(bg, (0, 0), hole)
            draw = ImageDraw.Draw(img)
    img = img.resize((size, size), Image.BOX)
    return np.asarray(img, dtype=np.uint8).copy()


# ---------------------------------------------------------------------------------------------- #
# Captions

_POSITION_PHRASES = {
    "left": ["on the left", "at the left"],
    "right": ["on the right", "at the right"],
    "top": ["at the top", "on top"],
    "bottom": ["at the bottom"],
    "center": ["in the center", "in the middle"],
}


def _pick(rng, options):
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def _shape_phrase(s, rng):
    return f"a {s['size']} {s['color']} {s['shape']} {_pick(rng, _POSITION_PHRASES[s['position']])}"


def _a(word):
    return "an" if word[0] in "aeiou" else "a"


def _background_phrase(bg, rng):
    c = bg["colors"]
    if bg["kind"] == "plain":
        return _pick(rng, [f"on {_a(c[0])} {c[0]} background", f"on {c[0]}"])
    if bg["kind"] == "gradient":
        return _pick(rng, [f"on a gradient from {c[0]} to {c[1]}", f"on {_a(c[0])} {c[0]} to {c[1]} gradient"])
    return _pick(rng, [f"on a striped {c[0]} and {c[1]} background", f"on {c[0]} and {c[1]} stripes"])


def caption(spec, rng=None):
    """Plain English; rng=None gives the canonical wording, a Generator picks among variants.

    Every variant names each shape as "a <size> <colour> <shape> <position phrase>" and the background
    after "on", so the scene can be parsed back from any of them.
    """
    parts = [_shape_phrase(s, rng) for s in spec["shapes"]]
    if len(parts) == 1:
        shapes = parts[0]
    else:
        shapes = ", ".join(parts[:-1]) + " and " + parts[-1]
    sep = " " if len(parts) == 1 else ", "
    return shapes + sep + _background_phrase(spec["background"], rng)


def is_held_out(text):
    """Stable across runs and machines (not Python's salted hash): ~3% of caption strings."""
    h = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    return h % 1000 < HELD_OUT_PER_MILLE


def sample_training(rng):
    """(spec, caption) for training, resampled until the caption string is not held out.

    The scene's canonical caption must not be held out either, so a held-out scene (the semantic
    cases use canonical wording) is not seen in training under another wording.
    """
    while True:
        spec = sample_spec(rng)
        text = caption(spec, rng)
        if not is_held_out(text) and not is_held_out(caption(spec)):
            return spec, text


# ---------------------------------------------------------------------------------------------- #
# Held-out semantic cases


def semantic_cases(n=40, seed=config.SEED):
    """n held-out prompts (canonical wording), mostly plain backgrounds, one or two shapes."""
    rng = np.random.default_rng([seed, 40])
    cases, seen = [], set()
    while len(cases) < n:
        kind = "plain" if len(cases) % 8 != 7 else _choice(rng, ["gradient", "stripes"])
        n_shapes = 1 if rng.uniform() < 0.6 else 2
        spec = sample_spec(rng, n_shapes=n_shapes, background_kind=kind)
        text = caption(spec)
        if not is_held_out(text) or text in seen:
            continue
        seen.add(text)
        cases.append(
            dict(
                prompt=text,
                seed=len(cases) + 1,
                background=spec["background"]["colors"][0] if kind == "plain" else None,
                shapes=[dict(color=s["color"], position=s["position"]) for s in spec["shapes"]],
            )
        )
    return cases


def export_semantic(path, n=40):
    data = dict(
        image_size=config.IMAGE_SIZE,
        palette={k: list(v) for k, v in PALETTE.items()},
        regions=REGIONS,
        cases=semantic_cases(n),
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = json.dumps(data, indent=1)
    # One line per colour, region and shape keeps the file readable.
    text = re.sub(r"\[\s+([-0-9., \n]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")
    return data


def write_grid(path, n=16, seed=0, size=config.IMAGE_SIZE, cols=4):
    rng = np.random.default_rng(seed)
    rows = (n + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (size + 4), rows * (size + 4)), (128, 128, 128))
    for i in range(n):
        spec, text = sample_training(rng)
        img = Image.fromarray(render(spec, size))
        sheet.paste(img, ((i % cols) * (size + 4) + 2, (i // cols) * (size + 4) + 2))
        print(f"{i:3d}: {text}")
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", help="write a grid of training samples (captions printed)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=config.IMAGE_SIZE)
    ap.add_argument("--export-semantic", help="write the held-out semantic cases (JSON)")
    args = ap.parse_args()
    if not args.grid and not args.export_semantic:
        ap.error("nothing to do: give --grid and/or --export-semantic")
    if args.grid:
        write_grid(args.grid, args.n, args.seed, args.size)
    if args.export_semantic:
        data = export_semantic(args.export_semantic)
        print(f"wrote {len(data['cases'])} cases to {args.export_semantic}")


if __name__ == "__main__":
    main()
