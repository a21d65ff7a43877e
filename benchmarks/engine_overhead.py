"""The engine's cost over a plain ``model.fit(verbose=0)``.

Trains ``mnist_mlp`` through ktui's engine (events, batch progress, controls) and
with a plain ``fit`` of the same model on the same data, taking turns at going
first, and prints the ratios of the median and of the fastest steady epoch and of
the process CPU time per epoch. Target: ≤ 1.03.

    python benchmarks/engine_overhead.py [--rounds 8] [--epochs 4]
"""

from __future__ import annotations

from common import Comparison, EpochClock, median, plain_fit_epochs, rounds_and_config

from ktui.core.controls import RunControls
from ktui.core.events import BatchProgress, EpochEnded, Event, RunStarted
from ktui.core.presets import RunConfig


def engine_epochs(config: RunConfig) -> tuple[EpochClock, int]:
    """Train ``config`` through the engine; its epoch clock and the batch events seen."""
    from ktui.training.engine import KerasTrainer

    clock = EpochClock()
    batches = 0

    def listener(event: Event) -> None:
        nonlocal batches
        if isinstance(event, EpochEnded):
            clock.epoch_ended()
        elif isinstance(event, BatchProgress):
            batches += 1
        elif isinstance(event, RunStarted):
            clock.start()

    KerasTrainer(capture=None).run(config, listener, RunControls())
    return clock, batches


def main() -> None:
    args, config = rounds_and_config(__doc__)
    comparison = Comparison("engine", "plain fit")
    for round_ in range(args.rounds):
        # Take turns at going first, so neither way always inherits the other's heap.
        if round_ % 2 == 0:
            ours, batches = engine_epochs(config)
            theirs = plain_fit_epochs(config)
        else:
            theirs = plain_fit_epochs(config)
            ours, batches = engine_epochs(config)
        comparison.add(ours, theirs)
        print(
            f"  round {round_ + 1}: engine {median(ours.steady().wall):.3f}s/epoch "
            f"({batches} batch events), plain fit {median(theirs.steady().wall):.3f}s/epoch"
        )
    print(comparison.report(target=1.03))


if __name__ == "__main__":
    main()
