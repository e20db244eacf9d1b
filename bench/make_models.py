#!/usr/bin/env python3
"""Write the benchmark's random-weight GGUF models in the real models' shapes.

Speed depends only on shapes and tensor types, so these files time exactly like the real
models. They are written with llama.cpp's own gguf-py alone: no torch, no converter, no model
hub. gguf-py comes from the llama-cpp-python sdist that
fixtures/make_fixtures.py already downloads and unpacks (its `locate_llama_cpp` is reused).

  qwen3-reranker-0.6b-shape-pooled-q8_0.gguf  Qwen3-Reranker-0.6B shape, current llama.cpp
      conversion: qwen3.pooling_type = 4 (RANK), labels ["yes", "no"], cls.output.weight [1024, 2],
      tokenizer.chat_template.rerank. Qwen3-Reranker-0.6B ties its embeddings, so the converter
      has no output.weight and builds cls.output.weight from token_embd's "yes" and "no" rows;
      with --outtype q8_0 both tensors are Q8_0 (conversion/base.py quantizes every 2-D
      `.weight`), so the head's rows are token_embd's rows byte for byte. So here too.
  qwen3-reranker-0.6b-shape-causal-q8_0.gguf  the same weights as a plain causal LM: output.weight,
      no pooling key, no labels, no template; general.name says "Qwen3-Reranker".
  bert-base-shape-reranker-f16.gguf  a BERT-base cross-encoder: cls.weight + cls.output.weight.

Shapes: Qwen3 28 layers, hidden 1024, 16 q / 8 kv heads of 128, FFN 3072, vocab 151936, Q8_0
matrices (quantized by gguf-py's quants module), rope theta 1e6, rms eps 1e-6, context 40960.
BERT 12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522, 512 positions, F16 matrices.
Norm weights are 1 + noise, matrices N(0, 0.02), biases small: no NaN.

Tokenizers: the committed fixtures' vocabularies (fixtures/qwen3-reranker-pooled.gguf: a byte-level
BPE with merges, <|im_start|>/<|im_end|>/<|endoftext|> as CONTROL, <think>/</think>, single-token
yes/no; fixtures/bert-reranker-pooler.gguf: WordPiece), padded to the real vocab sizes with
unused filler tokens ("[PAD<id>]" / "[unused<id>]", type UNUSED), as llama.cpp's converter pads.

Usage:  python bench/make_models.py [--out bench/models] [--only NAME] [--force] [--llama-cpp DIR]
The files are deterministic (seeded) and are rewritten only when missing or when this
script's GENERATOR_VERSION changes (see MANIFEST.json in the output directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATOR_VERSION = 3

sys.path.insert(0, str(ROOT / "fixtures"))
from make_fixtures import locate_llama_cpp  # noqa: E402  (our own code: finds/unpacks gguf-py)

gguf = None  # imported in main() once gguf-py is located

QWEN = dict(layers=28, hidden=1024, heads=16, kv_heads=8, head_dim=128, ffn=3072, vocab=151936,
            ctx=40960, rope_theta=1_000_000.0, rms_eps=1e-6)
BERT = dict(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, ctx=512, ln_eps=1e-12)

MODELS = {
    "qwen3-pooled": "qwen3-reranker-0.6b-shape-pooled-q8_0.gguf",
    "qwen3-causal": "qwen3-reranker-0.6b-shape-causal-q8_0.gguf",
    "bert": "bert-base-shape-reranker-f16.gguf",
}


def log(*a):
    print("[make_models]", *a, flush=True)


# ---------------------------------------------------------------------------------------------
# reading the fixtures' tokenizers
# ---------------------------------------------------------------------------------------------


def read_kv(path: Path) -> dict:
    """key -> (value, types) for every metadata field of a GGUF."""
    r = gguf.GGUFReader(str(path))
    out = {}
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        out[name] = (f.contents(), list(f.types))
    return out


def copy_kv(writer, kv: dict, key: str, value=None) -> None:
    v, types = kv[key]
    if value is not None:
        v = value
    vt = gguf.GGUFValueType
    if types[0] == vt.ARRAY:
        writer.add_key_value(key, list(v), vt.ARRAY, sub_type=types[-1])
    else:
        writer.add_key_value(key, v, types[0])


def padded_vocab(kv: dict, size: int, filler: str) -> tuple[list[str], list[int]]:
    tokens = list(kv["tokenizer.ggml.tokens"][0])
    types = [int(t) for t in kv["tokenizer.ggml.token_type"][0]]
    assert len(tokens) == len(types) <= size
    unused = int(gguf.TokenType.UNUSED)
    for i in range(len(tokens), size):
        tokens.append(filler.format(i))
        types.append(unused)
    assert len(set(tokens)) == size, "filler tokens must not collide with real ones"
    return tokens, types


# ---------------------------------------------------------------------------------------------
# tensors: name, numpy shape (rows, ne0), ggml type, how to draw it
# ---------------------------------------------------------------------------------------------


class Spec:
    def __init__(self, name: str, shape: tuple[int, ...], qtype, kind: str):
        self.name, self.shape, self.qtype, self.kind = name, shape, qtype, kind

    def nbytes(self) -> int:
        block, type_size = gguf.GGML_QUANT_SIZES[self.qtype]
        n = int(np.prod(self.shape))
        return n // block * type_size

    def byte_shape(self) -> tuple[int, ...]:
        if self.qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            return self.shape
        return gguf.quant_shape_to_byte_shape(self.shape, self.qtype)

    def data(self, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "norm":  # 1 + noise
            x = 1.0 + 0.05 * rng.standard_normal(self.shape, dtype=np.float32)
        elif self.kind == "bias":
            x = 0.01 * rng.standard_normal(self.shape, dtype=np.float32)
        else:  # "w": a weight matrix or embedding table
            x = rng.standard_normal(self.shape, dtype=np.float32)
            x *= np.float32(0.02)
        return gguf.quants.quantize(x, self.qtype)


def qwen_common_specs() -> list[Spec]:
    Q8, F32 = gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.F32
    h, hd, ff = QWEN["hidden"], QWEN["head_dim"], QWEN["ffn"]
    q_out, kv_out = QWEN["heads"] * hd, QWEN["kv_heads"] * hd
    specs = [Spec("token_embd.weight", (QWEN["vocab"], h), Q8, "w")]
    for i in range(QWEN["layers"]):
        b = f"blk.{i}."
        specs += [
            Spec(b + "attn_norm.weight", (h,), F32, "norm"),
            Spec(b + "attn_q.weight", (q_out, h), Q8, "w"),
            Spec(b + "attn_k.weight", (kv_out, h), Q8, "w"),
            Spec(b + "attn_v.weight", (kv_out, h), Q8, "w"),
            Spec(b + "attn_output.weight", (h, q_out), Q8, "w"),
            Spec(b + "attn_q_norm.weight", (hd,), F32, "norm"),
            Spec(b + "attn_k_norm.weight", (hd,), F32, "norm"),
            Spec(b + "ffn_norm.weight", (h,), F32, "norm"),
            Spec(b + "ffn_gate.weight", (ff, h), Q8, "w"),
            Spec(b + "ffn_up.weight", (ff, h), Q8, "w"),
            Spec(b + "ffn_down.weight", (h, ff), Q8, "w"),
        ]
    specs.append(Spec("output_norm.weight", (h,), F32, "norm"))
    return specs


def bert_specs() -> list[Spec]:
    F16, F32 = gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32
    h, ff = BERT["hidden"], BERT["ffn"]
    specs = [
        Spec("token_embd.weight", (BERT["vocab"], h), F16, "w"),
        Spec("position_embd.weight", (BERT["ctx"], h), F16, "w"),
        Spec("token_types.weight", (2, h), F32, "w"),  # llama.cpp adds row 0 directly: must be F32
        Spec("token_embd_norm.weight", (h,), F32, "norm"),
        Spec("token_embd_norm.bias", (h,), F32, "bias"),
    ]
    for i in range(BERT["layers"]):
        b = f"blk.{i}."
        for p in ("attn_q", "attn_k", "attn_v", "attn_output"):
            specs += [Spec(b + p + ".weight", (h, h), F16, "w"), Spec(b + p + ".bias", (h,), F32, "bias")]
        specs += [
            Spec(b + "attn_output_norm.weight", (h,), F32, "norm"),
            Spec(b + "attn_output_norm.bias", (h,), F32, "bias"),
            Spec(b + "ffn_up.weight", (ff, h), F16, "w"),
            Spec(b + "ffn_up.bias", (ff,), F32, "bias"),
            Spec(b + "ffn_down.weight", (h, ff), F16, "w"),
            Spec(b + "ffn_down.bias", (h,), F32, "bias"),
            Spec(b + "layer_output_norm.weight", (h,), F32, "norm"),
            Spec(b + "layer_output_norm.bias", (h,), F32, "bias"),
        ]
    specs += [
        Spec("cls.weight", (h, h), F16, "w"),
        Spec("cls.bias", (h,), F32, "bias"),
        Spec("cls.output.weight", (1, h), F32, "w"),
        Spec("cls.output.bias", (1,), F32, "bias"),
    ]
    return specs


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def open_writer(path: Path, arch: str, specs: list[Spec]):
    w = gguf.GGUFWriter(str(path), arch)
    for s in specs:
        bshape = s.byte_shape()
        dtype = np.uint8 if bshape != s.shape else (np.float16 if s.qtype == gguf.GGMLQuantizationType.F16
                                                   else np.float32)
        w.add_tensor_info(s.name, bshape, np.dtype(dtype), s.nbytes(),
                          raw_dtype=s.qtype if dtype == np.uint8 else None)
    return w


def start(w) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()


def qwen_kv(w, tok_kv: dict, *, pooled: bool) -> None:
    w.add_type("model")
    kind = "Pooled yes-no head" if pooled else "Causal LM head"
    w.add_name(f"Qwen3-Reranker-0.6B shape, random weights ({kind}, benchmark only)")
    w.add_string("general.basename", "Qwen3-Reranker")
    w.add_string("general.size_label", "0.6B")
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_block_count(QWEN["layers"])
    w.add_context_length(QWEN["ctx"])
    w.add_embedding_length(QWEN["hidden"])
    w.add_feed_forward_length(QWEN["ffn"])
    w.add_head_count(QWEN["heads"])
    w.add_head_count_kv(QWEN["kv_heads"])
    w.add_rope_freq_base(QWEN["rope_theta"])
    w.add_layer_norm_rms_eps(QWEN["rms_eps"])
    w.add_key_length(QWEN["head_dim"])
    w.add_value_length(QWEN["head_dim"])
    if pooled:
        w.add_pooling_type(gguf.PoolingType.RANK)
        w.add_classifier_output_labels(["yes", "no"])
        copy_kv(w, tok_kv, "tokenizer.chat_template.rerank")
        copy_kv(w, tok_kv, "tokenizer.chat_templates")
    tokens, types = padded_vocab(tok_kv, QWEN["vocab"], "[PAD{}]")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    copy_kv(w, tok_kv, "tokenizer.ggml.merges")
    for k in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
              "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"):
        copy_kv(w, tok_kv, k)


def bert_kv(w, tok_kv: dict) -> None:
    w.add_type("model")
    w.add_name("BERT-base cross-encoder shape, random weights (benchmark only)")
    w.add_string("general.basename", "BERT-Reranker")
    w.add_string("general.size_label", "110M")
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_block_count(BERT["layers"])
    w.add_context_length(BERT["ctx"])
    w.add_embedding_length(BERT["hidden"])
    w.add_feed_forward_length(BERT["ffn"])
    w.add_head_count(BERT["heads"])
    w.add_layer_norm_eps(BERT["ln_eps"])
    w.add_causal_attention(False)
    w.add_classifier_output_labels(["LABEL_0"])
    w.add_token_type_count(2)
    tokens, types = padded_vocab(tok_kv, BERT["vocab"], "[unused{}]")
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    for k in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
              "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id",
              "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
              "tokenizer.ggml.add_sep_token", "tokenizer.ggml.normalizer.lowercase"):
        copy_kv(w, tok_kv, k)


def make_qwen(out: Path, which: list[str]) -> None:
    """Both Qwen3 files in one pass: the same weights, the head differs."""
    tok_kv = read_kv(ROOT / "fixtures" / "qwen3-reranker-pooled.gguf")
    toks = list(tok_kv["tokenizer.ggml.tokens"][0])
    for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "yes", "no"):
        assert t in toks, f"fixture vocab lacks {t!r}"
    common = qwen_common_specs()
    Q8 = gguf.GGMLQuantizationType.Q8_0
    heads = {
        "qwen3-pooled": Spec("cls.output.weight", (2, QWEN["hidden"]), Q8, "w"),
        "qwen3-causal": Spec("output.weight", (QWEN["vocab"], QWEN["hidden"]), Q8, "w"),
    }
    writers = {}
    for key in which:
        path = out / (MODELS[key] + ".part")
        w = open_writer(path, "qwen3", common + [heads[key]])
        qwen_kv(w, tok_kv, pooled=key == "qwen3-pooled")
        start(w)
        writers[key] = w
    label_rows = [toks.index("yes"), toks.index("no")]
    rng = np.random.default_rng(3001)
    t0 = time.time()
    tied_head = None
    for i, s in enumerate(common):
        d = s.data(rng)
        if s.name == "token_embd.weight":
            tied_head = np.ascontiguousarray(d[label_rows])  # quantized rows, as the converter copies them
        for w in writers.values():
            w.write_tensor_data(d)
        if i % 60 == 0:
            log(f"qwen3: tensor {i + 1}/{len(common)} ({time.time() - t0:.0f} s)")
    for key, w in writers.items():
        if key == "qwen3-pooled":
            assert tied_head is not None and tied_head.nbytes == heads[key].nbytes()
            w.write_tensor_data(tied_head)
        else:
            w.write_tensor_data(heads[key].data(np.random.default_rng(3002)))
        w.close()
        os.replace(out / (MODELS[key] + ".part"), out / MODELS[key])


def make_bert(out: Path) -> None:
    tok_kv = read_kv(ROOT / "fixtures" / "bert-reranker-pooler.gguf")
    specs = bert_specs()
    path = out / (MODELS["bert"] + ".part")
    w = open_writer(path, "bert", specs)
    bert_kv(w, tok_kv)
    start(w)
    rng = np.random.default_rng(4001)
    for s in specs:
        w.write_tensor_data(s.data(rng))
    w.close()
    os.replace(path, out / MODELS["bert"])


def main() -> None:
    global gguf
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "models"))
    ap.add_argument("--only", action="append", choices=sorted(MODELS), help="make only this model (repeatable)")
    ap.add_argument("--force", action="store_true", help="rewrite even when up to date")
    ap.add_argument("--llama-cpp", default=None, help="llama.cpp tree holding gguf-py/ (default: as make_fixtures.py)")
    args = ap.parse_args()

    lcpp = locate_llama_cpp(args.llama_cpp)
    sys.path.insert(0, str(lcpp / "gguf-py"))
    import gguf as _gguf
    gguf = _gguf
    import gguf.quants  # noqa: F401

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "MANIFEST.json"
    manifest = {}
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
    wanted = args.only or list(MODELS)
    todo = [k for k in wanted if args.force or not (out / MODELS[k]).is_file()
            or manifest.get(MODELS[k], {}).get("generator") != GENERATOR_VERSION]
    t0 = time.time()
    qwen_todo = [k for k in todo if k.startswith("qwen3")]
    if qwen_todo:
        log("writing", ", ".join(MODELS[k] for k in qwen_todo))
        make_qwen(out, qwen_todo)
    if "bert" in todo:
        log("writing", MODELS["bert"])
        make_bert(out)
    for k in todo:
        manifest[MODELS[k]] = {"generator": GENERATOR_VERSION, "bytes": (out / MODELS[k]).stat().st_size}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    for k in wanted:
        p = out / MODELS[k]
        state = "written" if k in todo else "up to date"
        log(f"{p.name}: {p.stat().st_size / 2**20:.1f} MiB ({state})")
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
