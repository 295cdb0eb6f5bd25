#!/usr/bin/env python3
"""PyTorch baseline for clinfer's forward-throughput bench (the Rust side is the criterion bench).

Measures transformers' DistilBertForSequenceClassification forward pass on CPU for a randomly
initialised model with the full distilbert-base-uncased shape (dim 768, 6 layers, 12 heads,
FFN 3072, vocab 30522, 512 positions, 2 labels), f32, eval mode, under torch.inference_mode, at
batch 1, 8, 32 and sequence length 16, 64, 128 (all rows full length, attention mask all ones,
random token ids). The same shapes as the criterion bench, so the two can be run side by side.

Usage (from the repository root, in a venv with torch + transformers, and onnxruntime + onnx
for the ONNX Runtime contenders):

    python benches/pytorch_forward.py                    # all cores, default iterations
    python benches/pytorch_forward.py --threads 1 --iters 20
    python benches/pytorch_forward.py --batches 1,8 --seqs 16,64
    python benches/pytorch_forward.py --impls pytorch,pytorch-bf16,ort-f32,ort-int8

Contenders (`--impls`, default `pytorch`): `pytorch` (f32), `pytorch-bf16` (the same model
under `torch.autocast("cpu", dtype=torch.bfloat16)`), `ort-f32` (the model exported to ONNX,
CPU execution provider) and `ort-int8` (that graph through
`onnxruntime.quantization.quantize_dynamic` with QInt8 weights). The same random weights for
all of them.

Output: one JSON line per shape on stdout while it runs
    {"impl": "pytorch", "batch": 8, "seq": 64, "threads": 2, "iters": 10,
     "median_ms": ..., "min_ms": ..., "seqs_per_s": ...}
then a markdown table (median ms per batch and sequences per second) and the environment
(torch/transformers versions, thread count, CPU model). Timing: `--warmup` untimed forwards, then
`--iters` timed forwards per shape (each timed individually with time.perf_counter); the median is
reported. With the default `--iters 0` the count adapts to the shape: enough forwards to fill about
`--target-s` seconds, between 5 and 50.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time


def parse_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description="PyTorch DistilBERT forward throughput (CPU, f32)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch intra-op threads (default: all cores)")
    parser.add_argument("--iters", type=int, default=0,
                        help="timed forwards per shape (default 0 = adaptive, see --target-s)")
    parser.add_argument("--target-s", type=float, default=3.0,
                        help="adaptive mode: seconds of timed forwards per shape (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards per shape (default 2)")
    parser.add_argument("--batches", type=parse_list, default=[1, 8, 32], help="default 1,8,32")
    parser.add_argument("--seqs", type=parse_list, default=[16, 64, 128], help="default 16,64,128")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--impls", default="pytorch",
                        help="comma-separated: pytorch, pytorch-bf16, ort-f32, ort-int8")
    args = parser.parse_args()
    impls = [x.strip() for x in args.impls.split(",") if x.strip()]

    import torch
    import transformers
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = DistilBertConfig(vocab_size=30522, max_position_embeddings=512, dim=768, n_layers=6,
                              n_heads=12, hidden_dim=3072, activation="gelu", num_labels=2)
    model = DistilBertForSequenceClassification(config).eval()

    runners = {}
    for impl in impls:
        runners[impl] = make_runner(impl, model, config, args.threads)

    rows = []
    for impl, run in runners.items():
        for batch in args.batches:
            for seq in args.seqs:
                ids = torch.randint(1, config.vocab_size, (batch, seq))
                mask = torch.ones_like(ids)
                for _ in range(args.warmup):
                    run(ids, mask)
                iters = args.iters
                if iters <= 0:
                    start = time.perf_counter()
                    run(ids, mask)
                    one = time.perf_counter() - start
                    iters = max(5, min(50, int(args.target_s / max(one, 1e-6))))
                times = []
                for _ in range(iters):
                    start = time.perf_counter()
                    run(ids, mask)
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                row = {"impl": impl, "batch": batch, "seq": seq, "threads": args.threads,
                       "iters": iters, "median_ms": round(median * 1e3, 3),
                       "min_ms": round(min(times) * 1e3, 3),
                       "seqs_per_s": round(batch / median, 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)

    print()
    print(f"PyTorch {torch.__version__}, transformers {transformers.__version__}, "
          f"{args.threads} thread(s), {cpu_model()}, {platform.machine()}, "
          f"attention {model.config._attn_implementation}")
    print()
    print("| impl | batch | seq | median ms / batch | sequences / s |")
    print("|---|------:|----:|------------------:|--------------:|")
    for row in rows:
        print(f"| {row['impl']} | {row['batch']} | {row['seq']} | {row['median_ms']:.2f} "
              f"| {row['seqs_per_s']:.1f} |")


def make_runner(impl, model, config, threads):
    """A callable (ids, mask) -> logits for one contender."""
    import torch

    if impl == "pytorch":
        def run(ids, mask):
            with torch.inference_mode():
                return model(input_ids=ids, attention_mask=mask).logits
        return run
    if impl == "pytorch-bf16":
        def run(ids, mask):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return model(input_ids=ids, attention_mask=mask).logits
        return run
    if impl in ("ort-f32", "ort-int8"):
        import tempfile

        import onnxruntime as ort

        tmp = tempfile.mkdtemp(prefix="clinfer-ort-")
        f32_path = os.path.join(tmp, "model.onnx")
        ids = torch.randint(1, config.vocab_size, (2, 16))
        export = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                    "attention_mask": {0: "batch", 1: "seq"},
                                    "logits": {0: "batch"}},
                      opset_version=17)
        with torch.inference_mode():
            try:
                torch.onnx.export(model, (ids, torch.ones_like(ids)), f32_path, dynamo=False,
                                  **export)
            except TypeError:
                torch.onnx.export(model, (ids, torch.ones_like(ids)), f32_path, **export)
        path = f32_path
        if impl == "ort-int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            path = os.path.join(tmp, "model.int8.onnx")
            quantize_dynamic(f32_path, path, weight_type=QuantType.QInt8)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

        def run(ids, mask):
            return session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        return run
    raise SystemExit(f"unknown impl {impl!r}")


if __name__ == "__main__":
    main()
