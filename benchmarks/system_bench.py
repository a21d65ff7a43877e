"""The cost of watching the machine: training with the system sampler on ÷ off.

Trains ``mnist_mlp`` with a plain ``model.fit(verbose=0)`` twice per round — once
with ktui's :class:`~ktui.core.system.SystemSampler` running beside it (at its
default interval, every sample handed to a queue as the store's writer gets it) and
the :class:`~ktui.training.timing.StepTimer` among the callbacks, once without —
taking turns at going first, and prints the minimum-epoch and CPU-time ratios and
the sampler thread's own CPU time as a share of one core. Targets: ≤ 1.01 and < 1 %.
``--what sampler`` or ``--what timer`` turns on only one of the two, to tell which
costs what; ``--micro`` prints what one sample costs, reading by reading.

    python benchmarks/system_bench.py [--rounds 8] [--epochs 4] [--what both|sampler|timer]
    python benchmarks/system_bench.py --micro
"""

from __future__ import annotations

import argparse
import queue
import time
from dataclasses import replace
from typing import Any

from common import Comparison, EpochClock, median, plain_fit_epochs, preset_config

from ktui.core.presets import RunConfig
from ktui.core.system import SystemSample, SystemSampler


def micro(samples: int = 2000) -> None:
    """The CPU time of one sample and of each reading in it (this thread's time)."""
    import psutil

    sampler = SystemSampler()
    sampler.start()
    sampler.stop()  # the baselines are set; sample() is called here, not by the thread
    process = psutil.Process()

    def cost(read: Any) -> float:
        started = time.thread_time()
        for _ in range(samples):
            read()
        return (time.thread_time() - started) / samples * 1e6

    readings = [
        ("one whole sample", sampler.sample),
        ("  process CPU % (/proc/PID/stat)", lambda: process.cpu_percent(None)),
        ("  process RSS (/proc/PID/statm)", process.memory_info),
        ("  machine CPU % (/proc/stat)", lambda: psutil.cpu_percent(None)),
        ("  machine memory (/proc/meminfo)", psutil.virtual_memory),
    ]
    print(f"{samples} samples each; µs of CPU per call (median of 3 passes)")
    for name, read in readings:
        print(f"  {name:34s} {median([cost(read) for _ in range(3)]):7.1f} µs")
    note = sampler.gpus.note if sampler.gpus is not None else None
    print(f"  GPUs: {note or 'read through NVML (in the whole sample above)'}")


def fit_epochs(
    config: RunConfig, watched: bool, what: str = "both"
) -> tuple[EpochClock, float, float]:
    """One plain fit; its epoch clock and, when ``watched``, the sampler's CPU seconds
    and the fit's wall time (0 otherwise)."""
    import keras

    from ktui.training.gpu import device_memory_reader
    from ktui.training.timing import StepTimer

    samples: queue.SimpleQueue[SystemSample] = queue.SimpleQueue()
    sampler = None
    if watched and what in ("both", "sampler"):
        sampler = SystemSampler(device_memory=device_memory_reader())
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
    extra: list[Any] = [Bracket()] if watched else []
    if watched and what in ("both", "timer"):
        extra.append(StepTimer())
    try:
        clock = plain_fit_epochs(config, extra_callbacks=extra)
    finally:
        if sampler is not None and not span[1]:  # the fit raised before its end
            sampler.stop()
    return clock, (sampler.cpu_seconds if sampler else 0.0), span[1] - span[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--what", choices=("both", "sampler", "timer"), default="both")
    parser.add_argument("--micro", action="store_true", help="only the cost of one sample")
    args = parser.parse_args()
    if args.micro:
        micro()
        return
    # Training alone, no validation pass: the sampler's cost is measured against the fit.
    config = replace(preset_config("mnist_mlp", args.epochs), validation="none")
    print(
        f"mnist_mlp on {config.data.describe()}, {args.rounds} rounds × "
        f"{args.epochs} epochs each way, alternating; on: {args.what}"
    )
    subject = {"both": "sampler and step timer on", "sampler": "sampler on", "timer": "timer on"}
    comparison = Comparison(subject[args.what], "off")
    sampler_cpu = sampler_wall = 0.0
    for round_ in range(args.rounds):
        if round_ % 2 == 0:
            ours, cpu, wall = fit_epochs(config, True, args.what)
            theirs, _, _ = fit_epochs(config, False)
        else:
            theirs, _, _ = fit_epochs(config, False)
            ours, cpu, wall = fit_epochs(config, True, args.what)
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
