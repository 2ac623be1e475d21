"""Heron's tracking in one minute: a learning-rate sweep, tracked, searched and compared.

Trains a small logistic-regression classifier (plain Python, data generated here) with five
learning rates, logging params and a loss curve per epoch to the embedded store, then finds
the best run with the same filter grammar the CLI takes.

    python examples/tracking_quickstart.py [--workspace DIR]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import heron


def make_data(n: int, seed: int = 0) -> list[tuple[list[float], int]]:
    """Two Gaussian blobs in 4 dimensions."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.random() < 0.5
        centre = 1.0 if label else -1.0
        rows.append(([rng.gauss(centre * 0.6, 1.0) for _ in range(4)], int(label)))
    return rows


def train(lr: float, epochs: int, data: list[tuple[list[float], int]]) -> tuple[float, float]:
    """Full-batch gradient descent; logs loss and accuracy each epoch to the active run."""
    w, b = [0.0] * 4, 0.0
    for epoch in range(epochs):
        grad_w, grad_b, loss, correct = [0.0] * 4, 0.0, 0.0, 0
        for x, y in data:
            z = sum(wi * xi for wi, xi in zip(w, x)) + b
            p = 1 / (1 + math.exp(-z))
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            correct += (p >= 0.5) == bool(y)
            for i in range(4):
                grad_w[i] += (p - y) * x[i]
            grad_b += p - y
        n = len(data)
        w = [wi - lr * g / n for wi, g in zip(w, grad_w)]
        b -= lr * grad_b / n
        heron.log_metrics({"loss": loss / n, "accuracy": correct / n}, step=epoch)
    return loss / n, correct / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default="heron-quickstart", help="where the store lives")
    args = parser.parse_args()

    workspace = Path(args.workspace).resolve()
    heron.set_tracking_uri(workspace)  # a SQLite store in that folder; no server
    heron.set_experiment("lr-sweep")
    data = make_data(2000)

    started = time.perf_counter()
    for lr in (0.01, 0.05, 0.1, 0.5, 1.0):
        with heron.start_run(name=f"lr={lr}", tags={"model": "logreg"}):
            heron.log_params({"lr": lr, "epochs": 60, "rows": len(data)})
            loss, acc = train(lr, 60, data)
            heron.log_dict({"lr": lr, "final_loss": loss, "final_accuracy": acc}, "summary.json")
    elapsed = time.perf_counter() - started

    client = heron.Client()
    best = client.search_runs(
        experiment="lr-sweep",
        filter="metrics.accuracy > 0.5 and tags.model = 'logreg'",
        order_by=["metrics.loss ASC"],
        max_results=5,
    )
    print(f"Tracked 5 runs x 60 epochs in {elapsed:.2f} s into {workspace}\n")
    print(f"{'run':<10} {'lr':>6} {'loss':>8} {'accuracy':>9}")
    for run in best:
        print(
            f"{run.name:<10} {run.params['lr']:>6} {run.metrics['loss']:>8.4f} "
            f"{run.metrics['accuracy']:>9.3f}"
        )
    top = best[0]
    curve = client.get_metric_history(top.id, "loss")
    print(f"\nBest: {top.name} (loss curve of {len(curve)} points, first {curve[0].value:.4f})")
    print("\nExplore it from the shell:")
    print(f"  heron --tracking-uri {workspace} runs list -e lr-sweep -o 'metrics.loss ASC'")
    print(f"  heron --tracking-uri {workspace} runs show {top.id}")


if __name__ == "__main__":
    main()
