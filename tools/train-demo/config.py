"""The demo model's shape: one place that the dataset, the three trainers and the exporter read.

The values are sized so the whole recipe trains on a 2-core CPU in about an hour (see README.md);
`--size 128` style overrides are for machines with more compute.
"""

IMAGE_SIZE = 64  # pixels per side of the generated image
PATCH_NUMS = [1, 2, 3, 4, 5, 6, 8]  # scales of the residual quantizer; last = IMAGE_SIZE / 8

# Hybrid tokenizer (tokenizer/config.json). ch * ch_mult[i] must be a multiple of 32 (GroupNorm).
VAE = dict(
    ch=32,
    ch_mult=[1, 2, 2, 4],  # 4 levels: downsampling by 8, so an 8x8 latent
    z_channels=32,  # = codebook dimension Cvae
    vocab_size=1024,
    quant_resi=0.5,
    share_quant_resi=4,
)

# Text encoder (a Qwen2 folder): random, seeded and frozen; only its final hidden states are used.
QWEN2 = dict(
    hidden_size=32,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-6,
    rope_theta=1000000.0,
    vocab_size=151936,
    seed=20261126,
)

# Scale-wise transformer (llm/config.json), the release's path: disable_aln, llama attention/MLP.
GPT = dict(
    embed_dim=192,
    depth=4,
    num_heads=3,  # head_dim 64, as the release
    mlp_ratio=4.0,
    context_token=32,  # prompt tokens kept (the release keeps 300); captions stay below this
    context_dim=QWEN2["hidden_size"],
    diff_width=192,
    diff_depth=3,
    diffusion_batch_mul=4,
    cond_drop_rate=0.1,
    norm_eps=1e-6,
)

# Where the trained folders go (relative to the output directory given to train.py).
HART_DIR = "hart-demo-64px"  # holds llm/ and tokenizer/
QWEN_DIR = "qwen2-demo"  # config.json, model.safetensors, tokenizer.json
SEED = 20261126
