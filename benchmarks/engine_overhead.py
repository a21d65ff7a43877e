"""Issue 2 benchmark: the engine's cost over a plain ``model.fit(verbose=0)``.

Trains ``mnist_mlp`` through ktui's engine (events, batch progress, controls) and
with a plain ``fit`` of the same model on the same data, alternating, and prints
the ratio of the median steady epoch times. Target: ≤ 1.03.

    python benchmarks/engine_overhead.py [--rounds 3] [--epochs 4]
"""

from __future__ import annotations

import argparse

from common import median, plain_fit_epoch_times, preset_config, steady

from ktui.core.controls import RunControls
from ktui.core.events import BatchProgress, EpochEnded, Event


def engine_epoch_times(config) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    from ktui.training.engine import KerasTrainer

    times: list[float] = []
    batches = 0

    def listener(event: Event) -> None:
        nonlocal batches
        if isinstance(event, EpochEnded):
            times.append(event.seconds)
        elif isinstance(event, BatchProgress):
            batches += 1

    KerasTrainer(capture=None).run(config, listener, RunControls())
    return times, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    config = preset_config("mnist_mlp", args.epochs)
    print(
        f"mnist_mlp on {config.data.describe()}, {args.rounds} rounds × "
        f"{args.epochs} epochs each way, alternating"
    )
    engine: list[float] = []
    plain: list[float] = []
    for round_ in range(args.rounds):
        # Take turns at going first, so neither way always inherits the other's heap.
        if round_ % 2 == 0:
            e, batches = engine_epoch_times(config)
            p = plain_fit_epoch_times(config)
        else:
            p = plain_fit_epoch_times(config)
            e, batches = engine_epoch_times(config)
        engine += steady(e)
        plain += steady(p)
        print(
            f"  round {round_ + 1}: engine {median(steady(e)):.3f}s/epoch "
            f"({batches} batch events), plain fit {median(steady(p)):.3f}s/epoch"
        )
    ratio = median(engine) / median(plain)
    print(f"median epoch: engine {median(engine):.3f}s, plain fit {median(plain):.3f}s")
    print(f"ratio engine / plain fit: {ratio:.3f} (target ≤ 1.03)")


if __name__ == "__main__":
    main()
