#!/usr/bin/env python3
"""PyTorch baseline for clinfer's forward-throughput bench (the Rust side is the criterion bench).

Measures transformers' DistilBertForSequenceClassification forward pass on CPU for a randomly
initialised model with the full distilbert-base-uncased shape (dim 768, 6 layers, 12 heads,
FFN 3072, vocab 30522, 512 positions, 2 labels), f32, eval mode, under torch.inference_mode, at
batch 1, 8, 32 and sequence length 16, 64, 128 (all rows full length, attention mask all ones,
random token ids). The same shapes as the criterion bench, so the two can be run side by side.

Usage (from the repository root, in a venv with torch + transformers):

    python benches/pytorch_forward.py                    # all cores, default iterations
    python benches/pytorch_forward.py --threads 1 --iters 20
    python benches/pytorch_forward.py --batches 1,8 --seqs 16,64

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
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = DistilBertConfig(vocab_size=30522, max_position_embeddings=512, dim=768, n_layers=6,
                              n_heads=12, hidden_dim=3072, activation="gelu", num_labels=2)
    model = DistilBertForSequenceClassification(config).eval()

    rows = []
    with torch.inference_mode():
        for batch in args.batches:
            for seq in args.seqs:
                ids = torch.randint(1, config.vocab_size, (batch, seq))
                mask = torch.ones_like(ids)
                for _ in range(args.warmup):
                    model(input_ids=ids, attention_mask=mask)
                iters = args.iters
                if iters <= 0:
                    start = time.perf_counter()
                    model(input_ids=ids, attention_mask=mask)
                    one = time.perf_counter() - start
                    iters = max(5, min(50, int(args.target_s / max(one, 1e-6))))
                times = []
                for _ in range(iters):
                    start = time.perf_counter()
                    model(input_ids=ids, attention_mask=mask)
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                row = {"impl": "pytorch", "batch": batch, "seq": seq, "threads": args.threads,
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
    print("| batch | seq | median ms / batch | sequences / s |")
    print("|------:|----:|------------------:|--------------:|")
    for row in rows:
        print(f"| {row['batch']} | {row['seq']} | {row['median_ms']:.2f} | {row['seqs_per_s']:.1f} |")


if __name__ == "__main__":
    main()
