"""The cost of watching the machine: training with the system sampler on ÷ off.

Trains ``mnist_mlp`` with a plain ``model.fit(verbose=0)`` twice per round — once
with ktui's :class:`~ktui.core.system.SystemSampler` running beside it (at its
default interval, every sample handed to a queue as the store's writer gets it) and
the :class:`~ktui.training.timing.StepTimer` among the callbacks, once without —
taking turns at going first, and prints the minimum-epoch and CPU-time ratios and
the sampler thread's own CPU time as a share of one core. Targets: ≤ 1.01 and < 1 %.

    python benchmarks/system_bench.py [--rounds 8] [--epochs 4]
"""

from __future__ import annotations

import queue
import time
from dataclasses import replace
from typing import Any

from common import Comparison, EpochClock, median, plain_fit_epochs, rounds_and_config

from ktui.core.presets import RunConfig
from ktui.core.system import SystemSample, SystemSampler


def fit_epochs(config: RunConfig, watched: bool) -> tuple[EpochClock, float, float]:
    """One plain fit; its epoch clock and, when ``watched``, the sampler's CPU seconds
    and the fit's wall time (0 otherwise)."""
    import keras

    from ktui.training.gpu import device_memory_reader
    from ktui.training.timing import StepTimer

    samples: queue.SimpleQueue[SystemSample] = queue.SimpleQueue()
    sampler = SystemSampler(device_memory=device_memory_reader()) if watched else None
    span = [0.0, 0.0]

    class Bracket(keras.callbacks.Callback):
        # The sampler runs while the model trains, and the wall time is that span's:
        # loading the data and building the model are not counted.
        def on_train_begin(self, logs: Any = None) -> None:
            if sampler is not None:
                sampler.add_listener(samples.put)
                sampler.start()
            span[0] = time.monotonic()

        def on_train_end(self, logs: Any = None) -> None:
            span[1] = time.monotonic()
            if sampler is not None:
                sampler.stop()

    # The unwatched fit has the epoch timer alone, as a person's plain fit would.
    extra: list[Any] = [Bracket(), StepTimer()] if watched else []
    try:
        clock = plain_fit_epochs(config, extra_callbacks=extra)
    finally:
        if sampler is not None and not span[1]:  # the fit raised before its end
            sampler.stop()
    return clock, (sampler.cpu_seconds if sampler else 0.0), span[1] - span[0]


def main() -> None:
    args, config = rounds_and_config(__doc__)
    # Training alone, no validation pass: the sampler's cost is measured against the fit.
    config = replace(config, validation="none")
    comparison = Comparison("sampler on", "sampler off")
    sampler_cpu = sampler_wall = 0.0
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            ours, cpu, wall = fit_epochs(config, watched=True)
            theirs, _, _ = fit_epochs(config, watched=False)
        else:
            theirs, _, _ = fit_epochs(config, watched=False)
            ours, cpu, wall = fit_epochs(config, watched=True)
        sampler_cpu += cpu
        sampler_wall += wall
        comparison.add(ours, theirs)
        print(
            f"  round {round_ + 1}: on {median(ours.steady().wall):.3f}s/epoch, "
            f"off {median(theirs.steady().wall):.3f}s/epoch"
        )
    print(comparison.report(target=1.01))
    share = 100 * sampler_cpu / sampler_wall if sampler_wall else 0.0
    print(
        f"  sampler thread: {sampler_cpu * 1000:.1f} ms CPU in {sampler_wall:.1f} s "
        f"→ {share:.3f} % of one core (target < 1 %)"
    )


if __name__ == "__main__":
    main()
