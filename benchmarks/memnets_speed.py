"""Seconds per MEMnets training epoch (issue 4): 750k samples, 5 lag times, batch 10000,
4 input features, encoder 4-30-30-30-10-3. Target: < 3 s per epoch on 2 CPU cores.

Prints one table: device, torch threads, seconds per epoch (training steps + float64
validation), and the split into data gathering, forward/backward/optimiser and the
loss maths. Run: ``python benchmarks/memnets_speed.py [--epochs 3] [--device cuda]``.

Measured on the 2-core development VM, shared with other jobs (load average 1.3-1.6
during the run; a busier moment gave 10-25 s/epoch with 2 threads):

    device | threads | s/epoch (median) | s/epoch (best) | steps/epoch | gather ms/step | loss maths ms/step | whole step ms
    cpu    | 1       | 4.23             | 3.97           | 68          | 1.7            | 2.5                | 57.3
    cpu    | 2       | 3.59             | 3.39           | 68          | 1.1            | 2.5                | 48.9

The seed code took about 25 s per epoch here (85 % of it collating Python tuples). Data
handling is now ~1-2 ms of a ~50 ms step; the rest is the encoder's own forward and
backward pass over 60,000 rows per step (ELU ~30 %, the Linear layers' matmuls ~45 %,
measured with torch.profiler), so the < 3 s target needs a quiet machine (the best
steps measured, 37 ms, give 68 x 37 ms + 0.3 s validation = 2.8 s) or a GPU.
No GPU was lent to this session: the GPU row is still to be measured (``--device cuda``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cgviz.memnets import MEMnets, MEMnetsConfig, MultiLagData
from cgviz.memnets.lobe import MEMnetsLobe
from cgviz.memnets.loss import memnets_terms

LAGTIMES = [1, 7, 8, 9, 10]
N_SAMPLES = 750_000
N_TRAJECTORIES = 5


def make_data() -> list[np.ndarray]:
    """5 trajectories with 750k samples in all (each loses tau_K = 10 frames)."""
    rng = np.random.default_rng(0)
    per = N_SAMPLES // N_TRAJECTORIES + max(LAGTIMES)
    return [np.cumsum(rng.normal(size=(per, 4)), axis=0).astype(np.float32) * 0.01
            + rng.normal(size=(per, 4)).astype(np.float32) for _ in range(N_TRAJECTORIES)]


def breakdown(data: MultiLagData, device: str, n_batches: int = 20) -> dict[str, float]:
    """Mean seconds per batch of gathering, the loss maths, and everything."""
    lobe = MEMnetsLobe([4, 30, 30, 30, 10, 3]).to(device)
    optimizer = torch.optim.Adam(lobe.parameters(), lr=1e-3)
    batches = data.batch_indices(10000)[:n_batches]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = {"gather": 0.0, "loss maths": 0.0, "step": 0.0}
    for index in batches:
        t0 = time.perf_counter()
        batch = data.gather(index)
        sync()
        t1 = time.perf_counter()
        out = lobe(batch.reshape(-1, 4)).reshape(len(LAGTIMES) + 1, -1, 3)
        sync()
        t2 = time.perf_counter()
        terms = memnets_terms(out, LAGTIMES, 1.0)
        sync()
        t3 = time.perf_counter()
        optimizer.zero_grad()
        terms.loss.backward()
        optimizer.step()
        sync()
        t4 = time.perf_counter()
        times["gather"] += t1 - t0
        times["loss maths"] += t3 - t2
        times["step"] += t4 - t0
    return {key: value / len(batches) for key, value in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    trajectories = make_data()
    rows = []
    threads_list = args.threads if args.device == "cpu" else [torch.get_num_threads()]
    for threads in threads_list:
        torch.set_num_threads(threads)
        config = MEMnetsConfig(lagtimes=LAGTIMES, encoder_sizes=[4, 30, 30, 30, 10, 3],
                               n_epochs=args.epochs, train_batch_size=10000, train_split=0.9)
        data = MultiLagData(trajectories, LAGTIMES, device=args.device)
        assert data.n_samples == N_SAMPLES
        train, validation = data.split(0.9, seed=1)
        estimator = MEMnets(config, device=args.device).fit(train, validation)
        seconds = [r.seconds for r in estimator.histories[1].train]
        parts = breakdown(train, args.device)
        steps = len(train.batch_indices(10000))
        rows.append((args.device, threads, np.median(seconds), min(seconds), steps,
                     parts["gather"] * 1e3, parts["loss maths"] * 1e3, parts["step"] * 1e3))
    print(f"MEMnets speed: {N_SAMPLES} samples, lags {LAGTIMES}, batch 10000, 4 features, "
          f"encoder 4-30-30-30-10-3, {args.epochs} epochs (90 % train, float64 validation)")
    header = ("device", "threads", "s/epoch (median)", "s/epoch (best)", "steps/epoch",
              "gather ms/step", "loss maths ms/step", "whole step ms")
    print(" | ".join(header))
    for row in rows:
        print(f"{row[0]} | {row[1]} | {row[2]:.2f} | {row[3]:.2f} | {row[4]} | {row[5]:.1f} | "
              f"{row[6]:.1f} | {row[7]:.1f}")


if __name__ == "__main__":
    main()
