"""The serving benchmark: each contender its own process on 127.0.0.1, the same closed-loop
load at each concurrency level, rounds interleaved, medians reported.

    python benches/serving/run.py --model DIR [--levels 1,10,50,100] [--rounds 3] \\
        [--requests 400] [--contenders baseline,ort-int8,clinfer-f32,clinfer-bf16,clinfer-int8,axum] \\
        [--out benches/serving/results]

Contenders (all on the same CPUs, no pinning, each alone on the machine while measured):
- ``baseline``: the study's baseline, FastAPI + transformers, one request per call
  (``benches/fastapi_pytorch_baseline.py``), f32;
- ``ort-int8``: FastAPI + ONNX Runtime int8 (``quantize_dynamic``), one request per call
  (``fastapi_ort_int8.py``);
- ``clinfer-<dtype>``: FastAPI + ``clinfer.Pipeline`` in that dtype (``fastapi_clinfer.py``):
  PHI scrub, dynamic batching (max batch 32, greedy: ``CLINFER_MAX_WAIT_MS``, default 0);
- ``axum``: ``examples/axum_server`` (Rust; PHI scrub, batching), ``--dtype int8``, the same
  batching.

Pythons: ``--py-torch`` needs torch, transformers, onnxruntime, fastapi and uvicorn; ``--py-clinfer``
the clinfer wheel, fastapi, uvicorn and aiohttp (it also runs the load generator,
``benches/http_load.py``; matplotlib there draws the plots). Per contender and level the run
records throughput, p50/p95/p99 latency, the server's CPU seconds per request (from
/proc/PID/stat) and its peak RSS (VmHWM), writes ``results.json``, a markdown table
(``table.md``) and two plots (``throughput.png``, ``p95.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def cpu_model() -> str:
    flags = ""
    name = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
                have = set(line.split(":", 1)[1].split())
                flags = " ".join(f for f in wanted if f in have)
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} CPUs; {flags})"


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 900) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server on port {port} did not come up")


def command(name: str, args: argparse.Namespace, port: int) -> tuple[List[str], Dict[str, str]]:
    env = dict(os.environ, CLINFER_MODEL_DIR=str(args.model))
    if name == "baseline":
        return [args.py_torch, "-m", "uvicorn", "fastapi_pytorch_baseline:app", "--app-dir", str(ROOT / "benches"),
                "--port", str(port), "--log-level", "warning", "--no-access-log"], env
    if name == "ort-int8":
        return [args.py_torch, "-m", "uvicorn", "fastapi_ort_int8:app", "--app-dir", str(HERE),
                "--port", str(port), "--log-level", "warning", "--no-access-log"], env
    if name.startswith("clinfer-"):
        env["CLINFER_DTYPE"] = name.split("-", 1)[1]
        return [args.py_clinfer, "-m", "uvicorn", "fastapi_clinfer:app", "--app-dir", str(HERE),
                "--port", str(port), "--log-level", "warning", "--no-access-log"], env
    if name == "axum":
        return [str(ROOT / "target/release/examples/axum_server"), "--model", str(args.model),
                "--addr", f"127.0.0.1:{port}", "--dtype", args.axum_dtype,
                "--max-wait-ms", os.environ.get("CLINFER_MAX_WAIT_MS", "0")], env
    raise SystemExit(f"unknown contender {name!r}")


def load(args: argparse.Namespace, port: int, concurrency: int) -> Dict[str, Any]:
    requests = max(args.requests, 4 * concurrency)
    out = subprocess.run(
        [args.py_clinfer, str(ROOT / "benches/http_load.py"), "--url", f"http://127.0.0.1:{port}",
         "--requests", str(requests), "--concurrency", str(concurrency), "--warmup", str(min(64, 2 * concurrency))],
        check=False, capture_output=True, text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--levels", default="1,10,50,100")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=400, help="requests per level (at least 4 × concurrency)")
    p.add_argument("--contenders", default="baseline,ort-int8,clinfer-f32,clinfer-bf16,clinfer-int8,axum")
    p.add_argument("--py-torch", default=sys.executable)
    p.add_argument("--py-clinfer", default=sys.executable)
    p.add_argument("--axum-dtype", default="int8")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args()
    args.model = args.model.resolve()
    levels = [int(x) for x in args.levels.split(",") if x]
    contenders = [c for c in args.contenders.split(",") if c]
    if "axum" in contenders:
        subprocess.run(["cargo", "build", "--release", "-q", "--example", "axum_server"], cwd=ROOT, check=True)
    args.out.mkdir(parents=True, exist_ok=True)

    runs: Dict[str, Dict[int, List[Dict[str, Any]]]] = {c: {lv: [] for lv in levels} for c in contenders}
    for rnd in range(args.rounds):
        order = contenders if rnd % 2 == 0 else list(reversed(contenders))
        for i, name in enumerate(order):
            port = 8200 + i
            cmd, env = command(name, args, port)
            log = open(args.out / f"{name}.log", "ab")
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_up(port, proc)
                for lv in levels:
                    cpu0 = proc_cpu_s(proc.pid)
                    r = load(args, port, lv)
                    r["server_cpu_s_per_request"] = (proc_cpu_s(proc.pid) - cpu0) / max(1, r["requests"])
                    r["server_peak_rss_mb"] = proc_peak_rss_mb(proc.pid)
                    runs[name][lv].append(r)
                    print(f"round {rnd + 1} {name} c={lv}: {r['throughput_rps']} req/s p50 {r['p50_ms']} "
                          f"p95 {r['p95_ms']} p99 {r['p99_ms']} ms ({r['ok']}/{r['requests']} ok)", flush=True)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()

    def med(name: str, lv: int, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[name][lv])

    summary = {
        "machine": cpu_model(),
        "levels": levels,
        "rounds": args.rounds,
        "median": {c: {lv: {k: med(c, lv, k) for k in ("throughput_rps", "p50_ms", "p95_ms", "p99_ms",
                                                          "server_cpu_s_per_request", "server_peak_rss_mb")}
                       for lv in levels} for c in contenders},
        "runs": runs,
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))

    rows = ["| contender | clients | req/s | × baseline | p50 ms | p95 ms | p99 ms | CPU ms / req | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in contenders:
        for lv in levels:
            m = summary["median"][c][lv]
            base = summary["median"].get("baseline", {}).get(lv)
            ratio = f"{m['throughput_rps'] / base['throughput_rps']:.2f}×" if base else ""
            rows.append(f"| {c} | {lv} | {m['throughput_rps']:.1f} | {ratio} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} | "
                        f"{m['p99_ms']:.1f} | {1000 * m['server_cpu_s_per_request']:.1f} | {m['server_peak_rss_mb']:.0f} |")
    table = "\n".join(rows)
    (args.out / "table.md").write_text(f"Machine: {summary['machine']}; medians of {args.rounds} rounds.\n\n{table}\n")
    print(table)

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plots", file=sys.stderr)
        return
    for key, fname, ylabel in (("throughput_rps", "throughput.png", "requests / s"), ("p95_ms", "p95.png", "p95 latency (ms)")):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for c in contenders:
            ax.plot(levels, [summary["median"][c][lv][key] for lv in levels], marker="o", label=c)
        ax.set_xscale("log")
        if key == "p95_ms":
            ax.set_yscale("log")
        ax.set_xticks(levels, [str(lv) for lv in levels])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} vs clients ({summary['machine'].split(' (')[0]})", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.out / fname, dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
