#!/usr/bin/python3
"""attend's self-attention stack against PyTorch's nn.TransformerEncoder on the same shapes.

For each shape: nn.TransformerEncoder(nn.TransformerEncoderLayer(H, heads, F, dropout=0),
layers) in float32, time-major input (S, B, H) with a src_key_padding_mask padded as
`attend bench` pads its sources; median forward and forward + backward (training mode, the
gradient of sum(y * dy), including the input's, which an encoder under trained embeddings needs)
over the repetitions. Then build/bench_transformer_layer on the same shape and thread count.

Threads: torch.set_num_threads alone does not hold PyTorch to one core (the OpenBLAS and OpenMP
pools keep their own threads), so each thread count runs PyTorch in a child process with
OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set before torch is imported. Both sides report the
process's CPU time per forward + backward, so a reader sees how many cores each really used.
Run from the repository root after building with benchmarks, on a machine otherwise idle:

    /usr/bin/python3 bench/torch_transformer.py [build/bench_transformer_layer]
"""
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = [  # H, heads, F, layers, S, B
    (128, 4, 512, 1, 12, 64),
    (128, 4, 512, 2, 24, 32),
    (256, 8, 1024, 2, 24, 32),
    (256, 4, 1024, 1, 48, 16),
]
ITERS = 20


def torch_times(torch, H, heads, F, layers, S, B):
    torch.manual_seed(0)
    stack = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(H, heads, F, dropout=0.0),
                                        layers, enable_nested_tensor=False).train()
    x = torch.randn(S, B, H, requires_grad=True)
    dy = torch.randn(S, B, H)
    mask = torch.tensor([[t >= S - (7 * b) % (S // 2 + 1) for t in range(S)] for b in range(B)])
    fwd, both, cpu = [], [], 0.0
    for i in range(ITERS + 3):
        stack.zero_grad()
        x.grad = None
        c0 = time.process_time()
        t0 = time.perf_counter()
        y = stack(x, src_key_padding_mask=mask)
        t1 = time.perf_counter()
        (y * dy).sum().backward()
        t2 = time.perf_counter()
        if i >= 3:
            fwd.append(t1 - t0)
            both.append(t2 - t0)
            cpu += time.process_time() - c0
    return {"forward_ms": 1000 * statistics.median(fwd), "forward_backward_ms": 1000 * statistics.median(both),
            "cpu_ms": 1000 * cpu / ITERS}


def torch_child(threads):
    import torch
    torch.set_num_threads(threads)
    rows = [torch_times(torch, *shape) for shape in SHAPES]
    print(json.dumps({"torch": torch.__version__, "rows": rows}))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/bench_transformer_layer"
    print("| threads | H | heads | F | layers | S | B | torch fwd ms | attend fwd ms | torch fwd+bwd ms "
          "| attend fwd+bwd ms | torch / attend CPU ms | attend / torch (fwd+bwd) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    version = ""
    for threads in (1, 2):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, __file__, "--torch-child", str(threads)], env=env, check=True,
                             capture_output=True, text=True)
        child = json.loads(out.stdout)
        version = child["torch"]
        for shape, t in zip(SHAPES, child["rows"]):
            out = subprocess.run([binary, *map(str, shape), str(ITERS), str(threads)], check=True,
                                 capture_output=True, text=True)
            a = json.loads(out.stdout)
            cells = [threads, *shape, f"{t['forward_ms']:.2f}", f"{a['forward_ms']:.2f}",
                     f"{t['forward_backward_ms']:.2f}", f"{a['forward_backward_ms']:.2f}",
                     f"{t['cpu_ms']:.1f} / {a['cpu_ms']:.1f}",
                     f"{a['forward_backward_ms'] / t['forward_backward_ms']:.2f}"]
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    print(f"torch {version}, float32, median of {ITERS}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--torch-child":
        torch_child(int(sys.argv[2]))
    else:
        main()
