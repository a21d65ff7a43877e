"""Will it fit: the memory estimate (ktui.core.memory), and against a measured peak on CPU.

Tolerance found (Dense models, TensorFlow 2.21 CPU, peak resident memory from
``getrusage``): what one step at a large batch takes beyond a small batch's step
measured 0.73–0.92 of the estimate (Adam and SGD, 1–4 thousand samples a batch), so
the estimate errs high by up to ~40 %, never low; the test allows 0.6–1.25. The
framework's own memory (the runtime, traced functions: a few hundred MiB on CPU) is
not in the estimate and not in this comparison.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_python

from ktui.core.events import LayerInfo, ModelSummary
from ktui.core.memory import (
    estimate,
    fit_verdict,
    largest_batch_that_fits,
    optimizer_slots,
    output_elements,
)

MIB = 2**20


def mlp() -> ModelSummary:
    return ModelSummary(
        layers=(
            LayerInfo("dense", "Dense", "(None, 1024)", 785 * 1024),
            LayerInfo("dropout", "Dropout", "(None, 1024)", 0),
            LayerInfo("out", "Dense", "(None, 10)", 1025 * 10),
        ),
        total_params=785 * 1024 + 1025 * 10,
        trainable_params=785 * 1024 + 1025 * 10,
        input_shape="(None, 784)",
    )


def test_printed_shapes_are_read_as_numbers_per_sample() -> None:
    assert output_elements("(None, 28, 28, 32)") == 28 * 28 * 32
    assert output_elements("[(None, 3), (None, 4)]") == 7
    assert output_elements("(None, None, 8)") is None
    assert output_elements("?") is None
    slots = (optimizer_slots("Adam"), optimizer_slots("sgd"), optimizer_slots("rmsprop"))
    assert slots == (2, 0, 1)


def test_the_estimate_adds_weights_gradients_slots_and_activations() -> None:
    summary = mlp()
    guess = estimate(summary, 128, "adam")
    params = summary.total_params * 4
    assert (guess.weights, guess.gradients, guess.optimizer) == (params, params, 2 * params)
    assert guess.activations == 128 * (784 + 1024 + 1024 + 10) * 4
    assert guess.workspace == 2 * 128 * 1024 * 4
    assert guess.total == 4 * params + guess.activations + guess.workspace
    assert guess.complete
    assert guess.describe().startswith("≈ 15 MiB for a batch of 128 (weights 3 MiB, ")
    unknown = ModelSummary((LayerInfo("x", "Custom", "?", 10),), 10, 10, "(None, 4)")
    assert not estimate(unknown, 8).complete
    assert "at least" in estimate(unknown, 8).describe()


def test_the_verdict_says_whether_it_fits_and_which_batch_would() -> None:
    summary = mlp()
    assert fit_verdict(summary, 128, "adam", None) == "Memory ≈ 15 MiB a step at batch_size 128"
    assert fit_verdict(summary, 128, "adam", 1024 * MIB, "GPU0") == (
        "Memory ≈ 15 MiB a step at batch_size 128: fits (1.0 GiB free on GPU0)"
    )
    small = 64 * MIB
    verdict = fit_verdict(summary, 8192, "adam", small, "GPU0")
    better = largest_batch_that_fits(summary, small, "adam")
    assert better is not None and estimate(summary, better).total <= small * 0.9
    assert estimate(summary, better * 2).total > small * 0.9
    assert verdict.endswith(f"does NOT fit (64 MiB free on GPU0); batch_size {better} would fit")
    assert largest_batch_that_fits(summary, MIB) is None
    assert "the weights alone do not fit" in fit_verdict(summary, 8, "adam", MIB)


MEASURE = """
import json, threading
import numpy as np, keras, psutil
from ktui.training.builder import summarize
from ktui.core.memory import estimate
model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8192, activation="relu"),
    keras.layers.Dense(1024, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
rng = np.random.default_rng(0)
small, big = 8, 2048
x = rng.normal(size=(2 * big, 16)).astype("float32")
y = rng.normal(size=(2 * big, 1)).astype("float32")
model.fit(x[: 2 * small], y[: 2 * small], batch_size=small, epochs=1, verbose=0)
# The resident memory while the big batches train, sampled beside them: the process's
# lifetime peak (ru_maxrss) can already be higher from loading Keras, and hide it.
process = psutil.Process()
before = process.memory_info().rss
peak, done = before, threading.Event()
def sample():
    global peak
    while not done.is_set():
        peak = max(peak, process.memory_info().rss)
        done.wait(0.002)
sampler = threading.Thread(target=sample)
sampler.start()
# Several big batches: on a busy machine the sampler thread may sleep through one
# batch's short peak, not through all of them.
model.fit(x, y, batch_size=big, epochs=4, verbose=0)
done.set()
sampler.join()
summary = summarize(model)
guess = estimate(summary, big, "adam").total - estimate(summary, small, "adam").total
print(json.dumps({"measured": peak - before, "estimated": guess}))
"""


def test_the_estimate_against_the_measured_peak_of_a_real_model_on_cpu() -> None:
    result = run_python(MEASURE, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    ratio = figures["measured"] / figures["estimated"]
    assert figures["estimated"] > 150 * MIB  # activations dominate: what is compared is real
    assert 0.6 <= ratio <= 1.25, figures


def test_an_out_of_memory_failure_says_which_batch_size_would_have_fitted() -> None:
    from ktui.core.memory import out_of_memory_message

    summary = mlp()
    text = out_of_memory_message(summary, 65536, "adam", 256 * MIB)
    better = largest_batch_that_fits(summary, 256 * MIB, "adam")
    assert better is not None and better < 65536
    assert text.startswith(
        f"The device ran out of memory at batch_size 65536; batch_size {better} would have "
        "fitted in 256 MiB"
    )
    assert out_of_memory_message(summary, 64, "adam", None) == (
        "The device ran out of memory at batch_size 64; try batch_size 32 (half) or a smaller "
        "model."
    )
    assert "weights alone do not fit" in out_of_memory_message(summary, 64, "adam", MIB)


def test_out_of_memory_errors_of_every_backend_are_told_apart() -> None:
    pytest.importorskip("keras")
    from ktui.training.gpu import is_out_of_memory

    class ResourceExhaustedError(Exception):
        pass

    assert is_out_of_memory(ResourceExhaustedError("OOM when allocating tensor"))
    assert is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(ValueError("Input 0 of layer dense is incompatible"))
