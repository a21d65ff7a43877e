"""Every GPU feature of ktui, exercised on this machine; prints what it saw.

Run it as-is on any machine: ``python benchmarks/gpu_check.py``. Without a GPU (no
NVML, no driver, or a backend without GPU support) it says which in one line and
exits 0. With one it checks, in order:

1. NVML: each GPU's name, utilisation, memory, power and temperature;
2. memory growth: on before the first GPU use (TensorFlow);
3. the device's real name, from the backend and from NVML;
4. the backend's own device memory (current and peak) and the sampler during a fit;
5. the fit estimate against the real peak of a training step;
6. device choice: a child process with ``CUDA_VISIBLE_DEVICES`` set to one GPU sees
   only that one, in the backend and in NVML;
7. an out-of-memory failure: a batch the estimate says cannot fit, in a child
   process, and the batch size the message proposes.

Exit code 0 when every check that could run passed, 1 when one failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ktui.core.system import GpuReader, SystemSampler, compact_line, format_bytes  # noqa: E402

FAILED: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        FAILED.append(what)


def nvml_figures() -> GpuReader:
    print("1. NVML")
    reader = GpuReader()
    if reader.note:
        print(f"  {reader.note}")
        return reader
    for gpu in reader.read():
        print(
            f"  GPU{gpu.index} {gpu.name}: {gpu.utilization}% busy, "
            f"{format_bytes(gpu.memory_used or 0)} of {format_bytes(gpu.memory_total or 0)}, "
            f"{gpu.power_watts} W, {gpu.temperature_c} °C"
        )
        check(gpu.memory_total is not None and gpu.memory_total > 0, f"GPU{gpu.index} memory")
    return reader


def dense_model(width: int) -> object:
    import keras

    model = keras.Sequential(
        [
            keras.Input((256,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


CHILD_DEVICES = """
import json, os, sys
sys.path.insert(0, {root!r})
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from ktui.core.system import GpuReader
import keras
from ktui.training.gpu import enable_memory_growth
enable_memory_growth()
sys.path.insert(0, {bench!r})
from gpu_check import backend_devices
kind, count, name = backend_devices()
print(json.dumps({{"count": count, "kind": kind,
                   "nvml": [g.index for g in GpuReader().read()]}}))
"""

CHILD_OOM = """
import json, os, sys
sys.path.insert(0, {root!r})
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
from ktui.training.gpu import enable_memory_growth, is_out_of_memory
enable_memory_growth()
from ktui.training.builder import summarize
from ktui.core.memory import largest_batch_that_fits, out_of_memory_message
# small inputs, a wide layer: a batch's activations are large, its data small
model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(65536, activation="relu"),
                          keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
summary = summarize(model)
total = {total}
batch = 8 * (largest_batch_that_fits(summary, total, "adam", at_most=2**24) or 1)
x = np.zeros((batch, 16), "float32"); y = np.zeros((batch, 1), "float32")
try:
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    print(json.dumps({{"oom": False, "batch": batch}}))
except Exception as exc:
    print(json.dumps({{"oom": is_out_of_memory(exc), "batch": batch, "kind": type(exc).__name__,
                       "message": out_of_memory_message(summary, batch, "adam", total)}}))
"""


def child(code: str, env: dict[str, str] | None = None, timeout: float = 240) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": (result.stderr or "no output")[-600:]}
    return dict(json.loads(lines[-1]))


def backend_devices() -> tuple[str, int, str]:
    """``(kind, count, name)`` of the devices the backend trains on."""
    try:
        from ktui.training.devices import device_info
    except ImportError:  # before the backends work: TensorFlow's own answer
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "CPU", 1, ""
        details = tf.config.experimental.get_device_details(gpus[0])
        return "GPU", len(gpus), str(details.get("device_name", "") or gpus[0].name)
    info = device_info()
    return info.kind, info.count, info.name


def main() -> int:
    print(f"ktui GPU check on {os.uname().nodename}")
    reader = nvml_figures()
    print("2. backend and memory growth")
    import keras

    from ktui.training.gpu import (
        device_memory_reader,
        enable_memory_growth,
        memory_growth_enabled,
    )

    growth = enable_memory_growth()
    print(f"  Keras {keras.__version__} on {keras.backend.backend()}; {growth or 'growth: n/a'}")
    kind, count, name = backend_devices()
    print(f"  backend device: {kind} {name} x{count}")
    if kind != "GPU":
        if reader.note:
            print(f"{reader.note}; nothing more to check")
        else:
            print(
                f"no GPU: NVML sees {len(reader.names)} GPU(s) but {keras.backend.backend()} "
                "sees none (on TensorFlow: pip install 'tensorflow[and-cuda]'); "
                "nothing more to check"
            )
        return 0
    if keras.backend.backend() == "tensorflow":
        grows = os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH")
        print(f"  TF_FORCE_GPU_ALLOW_GROWTH={grows}; set_memory_growth: {memory_growth_enabled()}")
        check(memory_growth_enabled() is True, "TensorFlow memory growth is on")
    print("3. device name")
    print(f"  backend: {name!r}; NVML: {reader.names}")
    check(bool(name) and not name.startswith("/"), "the backend's name is a model name")
    if reader.names:
        check(name in reader.names or reader.names[0] in name, "NVML agrees")

    print("4. device memory and the sampler during a fit")
    import numpy as np

    from ktui.core.memory import estimate
    from ktui.training.builder import summarize

    memory = device_memory_reader()
    check(memory is not None, "the backend reports its device memory")
    sampler = SystemSampler(interval=0.5, device_memory=memory)
    sampler.start()
    model = dense_model(4096)
    batch = 4096
    x = np.random.default_rng(0).normal(size=(batch * 8, 256)).astype("float32")
    y = np.zeros((batch * 8, 10), "float32")
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # build, trace
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        before = tf.config.experimental.get_memory_info("GPU:0")["current"]
        tf.config.experimental.reset_memory_stats("GPU:0")
    else:
        before = memory()[0] if memory and memory() else 0
    started = time.monotonic()
    model.fit(x, y, batch_size=batch, epochs=3, verbose=0)
    took = time.monotonic() - started
    time.sleep(0.6)
    sampler.stop()
    samples = sampler.history()
    for sample in samples[-3:]:
        print(f"  {compact_line(sample)}")
    check(any(g.utilization for s in samples for g in s.gpus), "NVML saw the GPU busy")
    reading = memory() if memory else None
    print(f"  backend memory now/peak: {reading}; 3 epochs in {took:.1f}s")
    print(
        f"  sampler: {sampler.samples_taken} samples, {sampler.cpu_seconds * 1000:.1f} ms CPU"
    )

    print("5. fit estimate against the real peak")
    if reading is not None:
        guess = estimate(summarize(model), batch, "adam")
        step_peak = reading[1] - before
        print(f"  estimate {guess.describe()}")
        print(
            f"  measured step peak above the resident weights: {format_bytes(step_peak)}; "
            f"whole peak {format_bytes(reading[1])} (ratio to estimate "
            f"{reading[1] / guess.total:.2f})"
        )
        check(0.3 <= reading[1] / guess.total <= 3.0, "the estimate is within 3x of the peak")

    print("6. device choice (CUDA_VISIBLE_DEVICES)")
    last = max(g.index for g in reader.read()) if reader.names else 0
    probe = CHILD_DEVICES.format(root=str(ROOT), bench=str(ROOT / "benchmarks"))
    seen = child(probe, {"CUDA_VISIBLE_DEVICES": str(last)})
    print(f"  CUDA_VISIBLE_DEVICES={last}: {seen}")
    check(seen.get("count") == 1 and seen.get("nvml") == [last], "the child sees that one GPU")
    hidden = child(probe, {"CUDA_VISIBLE_DEVICES": "-1"})
    print(f"  CUDA_VISIBLE_DEVICES=-1: {hidden}")
    check(hidden.get("kind") == "CPU", "--devices cpu hides every GPU")

    print("7. out of memory")
    gpus = reader.read()
    total = gpus[0].memory_total if gpus and gpus[0].memory_total else None
    if total:
        oom = child(CHILD_OOM.format(root=str(ROOT), total=total), timeout=300)
        print(f"  {oom}")
        check(bool(oom.get("oom")), "an impossible batch fails as out-of-memory")
    else:
        print("  device memory unknown: skipped")
    reader.close()
    print("FAILED: " + "; ".join(FAILED) if FAILED else "all GPU checks passed")
    return 1 if FAILED else 0


def run_quietly() -> int:
    """:func:`main` with what TensorFlow, XLA and CUDA write to fd 2 kept in a log file.

    Their lines are diagnostics for someone debugging a driver, not for this report;
    the last line says where they are.
    """
    import tempfile

    from ktui.core.capture import StderrCapture

    capture = StderrCapture()
    log = Path(tempfile.mkdtemp(prefix="ktui-gpu-check-")) / "stderr.log"
    capture.start(log)
    try:
        code = main()
    finally:
        capture.stop()
    if capture.line_count:
        print(f"(the frameworks wrote {capture.line_count} line(s) to stderr; they are in {log})")
    return code


if __name__ == "__main__":
    sys.exit(run_quietly())
