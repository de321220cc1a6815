#!/usr/bin/python3
"""attend's self-attention stack against PyTorch's nn.TransformerEncoder on the same shapes.

For each shape: nn.TransformerEncoder(nn.TransformerEncoderLayer(H, heads, F, dropout=0),
layers) in float32 on one thread, time-major input (S, B, H) with a src_key_padding_mask padded
as `attend bench` pads its sources; median forward and forward + backward (training mode, the
gradient of Σ y ⊙ dy) over the repetitions. Then build/bench_transformer_layer on the same shape.
Run niced from the repository root after building with benchmarks:

    nice -n 19 /usr/bin/python3 bench/torch_transformer.py [build/bench_transformer_layer]
"""
import json
import statistics
import subprocess
import sys
import time

import torch

SHAPES = [  # H, heads, F, layers, S, B
    (128, 4, 512, 1, 12, 64),
    (128, 4, 512, 2, 24, 32),
    (256, 8, 1024, 2, 24, 32),
    (256, 4, 1024, 1, 48, 16),
]
ITERS = 20


def torch_times(H, heads, F, layers, S, B):
    torch.manual_seed(0)
    stack = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(H, heads, F, dropout=0.0),
                                        layers, enable_nested_tensor=False).train()
    x = torch.randn(S, B, H)
    dy = torch.randn(S, B, H)
    mask = torch.tensor([[t >= S - (7 * b) % (S // 2 + 1) for t in range(S)] for b in range(B)])
    fwd, both = [], []
    for i in range(ITERS + 3):
        stack.zero_grad()
        t0 = time.perf_counter()
        y = stack(x, src_key_padding_mask=mask)
        t1 = time.perf_counter()
        (y * dy).sum().backward()
        t2 = time.perf_counter()
        if i >= 3:
            fwd.append(t1 - t0)
            both.append(t2 - t0)
    return 1000 * statistics.median(fwd), 1000 * statistics.median(both)


def main():
    torch.set_num_threads(1)
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/bench_transformer_layer"
    rows = []
    for shape in SHAPES:
        f, fb = torch_times(*shape)
        out = subprocess.run([binary, *map(str, shape), str(ITERS)], check=True, capture_output=True, text=True)
        a = json.loads(out.stdout)
        rows.append((shape, f, fb, a["forward_ms"], a["forward_backward_ms"]))
    print(f"torch {torch.__version__}, 1 thread, float32, median of {ITERS}")
    print("| H | heads | F | layers | S | B | torch fwd ms | attend fwd ms | torch fwd+bwd ms | attend fwd+bwd ms | attend / torch (fwd+bwd) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (H, heads, F, layers, S, B), f, fb, af, afb in rows:
        print(f"| {H} | {heads} | {F} | {layers} | {S} | {B} | {f:.2f} | {af:.2f} | {fb:.2f} | {afb:.2f} | {afb / fb:.2f} |")


if __name__ == "__main__":
    main()
