"""A run's strategy on the Keras backend in use: the scope its model is built in, the
collective its workers agree through, and where it ran.

``auto`` changes nothing. ``mirrored`` is ``tf.distribute.MirroredStrategy`` over
every local GPU on TensorFlow and ``keras.distribution.DataParallel`` on JAX; with no
GPU it runs on the logical CPU devices when there are several (``KTUI_CPU_DEVICES=N``
on TensorFlow, ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` on JAX), else on
one CPU replica, and says so. ``multiworker`` is
``tf.distribute.MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` on TensorFlow, and on
JAX ``keras.distribution.initialize`` (``jax.distributed.initialize``) with the first
task as coordinator, then ``DataParallel`` over every process's devices.

Keras 3.15's TensorFlow trainer has two faults under MultiWorkerMirroredStrategy
(keras-team/keras#20585): it reduces the first data batch across workers to build the
model (the reduce cannot take the batch) and reduces scalar logs along an axis they do
not have. :meth:`Distribution.prepare` works around both on the model it is given, and
nothing else.

Two processes of a cluster on one machine were ~20× slower an epoch than one process,
mostly per epoch: Keras makes a new distributed iterator over the arrays every epoch
and finds the epoch's end by a failed read that every worker must agree on, each a
few round trips between the workers (5 steps took 0.1 s of a 1 s epoch). A
multi-worker run on TensorFlow is therefore fed one repeating ``tf.data`` pipeline for
the whole fit, its epochs counted in steps (:func:`repeating_input`: 0.1 s an epoch).
Workers that share a machine also share its cores (:func:`_fair_threads`), so their
thread pools do not oversubscribe it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from ktui.core.distribute import Cluster, Placement, workers_on_this_machine
from ktui.core.errors import KtuiError
from ktui.training.devices import backend

#: Agreement: a few numbers summed over every worker (see :mod:`ktui.training.callback`).
Agree = Callable[[Sequence[float]], list[float]]


@dataclass
class Distribution:
    """The strategy a run trains under (see the module's docstring)."""

    placement: Placement
    cluster: Cluster | None = None
    agree: Agree | None = None
    """Sums a vector over every worker (a collective): None outside multi-worker runs."""
    _scope: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
    _prepare: Callable[[keras.Model], None] | None = None
    notes: list[str] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    """``(rank, processes)`` when each process must be given its own share of the data
    and of the global batch (JAX's multi-process runs); None: Keras shards it."""
    repeat_input: bool = False
    """Feed ``fit`` one repeating pipeline (:func:`repeating_input`), not arrays:
    TensorFlow's multi-worker runs, whose every new iterator costs round trips."""

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build, compile, train and evaluate the model in here."""
        with self._scope() if self._scope is not None else contextlib.nullcontext():
            yield

    def prepare(self, model: keras.Model) -> None:
        """Whatever the strategy needs done to a built, compiled model."""
        if self._prepare is not None:
            self._prepare(model)

    @property
    def is_chief(self) -> bool:
        """Whether this process records, evaluates for the record and saves the model."""
        return self.cluster is None or self.cluster.is_chief


def open_distribution(strategy: str, cluster: Cluster | None = None) -> Distribution:
    """The :class:`Distribution` for ``strategy`` on this process's backend.

    Call it before anything else touches the backend's devices: TensorFlow's logical
    devices and a multi-worker strategy can only be set up before its runtime starts.
    Raises :class:`KtuiError` for a combination that cannot run (PyTorch)."""
    name = backend()
    if strategy == "auto":
        return Distribution(_auto_placement())
    if name == "torch":
        raise KtuiError(
            f"the {strategy} strategy is not available on the PyTorch backend "
            "(Keras distributes only TensorFlow and JAX)",
            hint="Use --backend tensorflow or --backend jax, or --strategy auto.",
        )
    if strategy == "multiworker" and cluster is None:
        raise KtuiError("the multiworker strategy needs TF_CONFIG's cluster")
    if name == "tensorflow":
        return _tensorflow(strategy, cluster)
    return _jax(strategy, cluster)


def _host() -> str:
    return socket.gethostname()


def _auto_placement() -> Placement:
    from ktui.training.devices import device_info

    try:
        info = device_info()
        device = f"{info.kind}:0"
    except Exception:  # noqa: BLE001 - a label is not worth a failed run
        device = "CPU:0"
    return Placement("auto", 1, (_host(),), (device,))


def _short(device: str) -> str:
    """``/job:worker/replica:0/task:0/device:GPU:1`` → ``GPU:1``."""
    return device.rsplit("device:", 1)[-1].upper().replace("/", "")


def _cluster_hosts(cluster: Cluster) -> tuple[str, ...]:
    hosts: list[str] = []
    for _, address in cluster.tasks:
        host = address.rpartition(":")[0].strip("[]")
        if host not in hosts:
            hosts.append(host)
    return tuple(hosts)


# -- TensorFlow ---------------------------------------------------------------------------
def _tf_logical_cpus(tf: Any, notes: list[str]) -> None:
    """Split the CPU into ``KTUI_CPU_DEVICES`` logical devices (before TF starts)."""
    wanted = os.environ.get("KTUI_CPU_DEVICES", "").strip()
    if not wanted.isdigit() or int(wanted) < 2:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(int(wanted))]
        )
    except RuntimeError:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != int(wanted):
            notes.append(
                f"KTUI_CPU_DEVICES={wanted} ignored: TensorFlow had started already "
                f"with {current} CPU device(s)"
            )


def _tensorflow(strategy: str, cluster: Cluster | None) -> Distribution:
    import tensorflow as tf

    notes: list[str] = []
    if strategy == "multiworker":
        assert cluster is not None
        _fair_threads(tf, cluster, notes)
        try:
            mw = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as exc:
            raise KtuiError(
                f"TensorFlow could not start the multi-worker strategy: {exc}",
                hint="Start each worker in a process of its own (`ktui run --strategy "
                "multiworker`), with TF_CONFIG set before it starts.",
            ) from None
        devices = tuple(_short(d) for d in mw.extended.worker_devices)
        placement = Placement(
            "multiworker",
            int(mw.num_replicas_in_sync),
            _cluster_hosts(cluster),
            devices,
            workers=cluster.size,
            cluster=cluster.key,
            notes=tuple(notes),
        )

        def agree(values: Sequence[float]) -> list[float]:
            local = tf.constant([float(v) for v in values], dtype=tf.float32)
            total = mw.reduce(tf.distribute.ReduceOp.SUM, local, axis=None)
            return [float(v) for v in total.numpy()]

        return Distribution(
            placement,
            cluster,
            agree,
            mw.scope,
            lambda m: _fix_multiworker(m, mw, tf),
            notes,
            repeat_input=True,
        )
    _tf_logical_cpus(tf, notes)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        devices = tuple(d.name for d in gpus)
    else:
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) < 2:
            notes.append(
                "no GPU here: mirrored runs on one CPU replica, as auto would (split the CPU "
                "with KTUI_CPU_DEVICES=N to mirror over N logical devices)"
            )
            return Distribution(
                Placement("mirrored", 1, (_host(),), ("CPU:0",), notes=tuple(notes)),
                notes=notes,
            )
        devices = tuple(d.name for d in cpus)
        notes.append(f"no GPU here: mirrored runs on the {len(cpus)} logical CPU devices")
    mirrored = tf.distribute.MirroredStrategy(devices=list(devices))
    placement = Placement(
        "mirrored",
        int(mirrored.num_replicas_in_sync),
        (_host(),),
        tuple(_short(d) for d in devices),
        notes=tuple(notes),
    )
    return Distribution(placement, None, None, mirrored.scope, None, notes)


def _fair_threads(tf: Any, cluster: Cluster, notes: list[str]) -> None:
    """Give this worker its share of the machine's cores when several workers of the
    cluster run on it (before TensorFlow's runtime starts): each process's default
    pools are as big as the machine, and collectives wait on threads that have no core.
    ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS`` set by the person win."""
    local = workers_on_this_machine(cluster)
    if local < 2 or "TF_NUM_INTRAOP_THREADS" in os.environ:
        return
    share = max(1, (os.cpu_count() or 1) // local)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(share)
        if "TF_NUM_INTEROP_THREADS" not in os.environ:
            tf.config.threading.set_inter_op_parallelism_threads(share)
    except RuntimeError:  # TensorFlow had started: its pools stay as they are
        return
    notes.append(f"{local} workers share this machine: {share} thread(s) each")


def repeating_input(
    x: Any,
    y: Any,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    validation_split: float | None = None,
) -> tuple[Any, dict[str, Any]]:
    """``(dataset, fit's other arguments)`` for arrays ``x``, ``y``: one ``tf.data``
    pipeline that repeats, batched by the global ``batch_size`` and reshuffled each
    pass with ``seed`` (the same on every worker, so their shares do not overlap), with
    ``steps_per_epoch`` of one pass. ``validation_split`` is done as Keras does it (the
    last samples, before shuffling) and given as ``validation_data``."""
    import math

    import tensorflow as tf

    extra: dict[str, Any] = {}
    if validation_split:
        split = int(math.floor(len(x) * (1.0 - validation_split)))
        extra["validation_data"] = (x[split:], y[split:])
        x, y = x[:split], y[:split]
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    extra["steps_per_epoch"] = math.ceil(len(x) / batch_size)
    return data.batch(batch_size).repeat(), extra


def _fix_multiworker(model: keras.Model, strategy: Any, tf: Any) -> None:
    """Keras 3.15 under MultiWorkerMirroredStrategy (see the module's docstring)."""

    def symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        # Only the batch's structure and shapes matter here: this worker's own part.
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v,
                    batch,
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(symbolic_build, model)
    for name in ("train_step", "test_step"):
        step = getattr(model, name)

        def with_axis(data: Any, step: Any = step) -> Any:
            # Keras reduces each log "MEAN along axis 0" across workers: give it one.
            return tf.nest.map_structure(lambda v: tf.reshape(v, [1]), step(data))

        setattr(model, name, with_axis)


# -- JAX ----------------------------------------------------------------------------------
def _jax(strategy: str, cluster: Cluster | None) -> Distribution:
    import jax

    notes: list[str] = []
    agree: Agree | None = None
    if strategy == "multiworker":
        assert cluster is not None
        try:
            keras.distribution.initialize(
                job_addresses=cluster.coordinator,
                num_processes=cluster.size,
                process_id=cluster.rank,
            )
        except Exception as exc:  # noqa: BLE001 - JAX's errors vary by version
            raise KtuiError(
                f"JAX could not join the cluster at {cluster.coordinator}: {exc}",
                hint="Start every worker with the same TF_CONFIG cluster; the first task "
                "coordinates.",
            ) from None
        from jax.experimental import multihost_utils

        def agree_jax(values: Sequence[float]) -> list[float]:
            import numpy as np

            gathered = multihost_utils.process_allgather(np.asarray(values, dtype=np.float32))
            return [float(v) for v in np.asarray(gathered).reshape(-1, len(values)).sum(axis=0)]

        agree = agree_jax
        devices = list(jax.devices())
    else:
        devices = [d for d in jax.devices() if d.platform != "cpu"] or list(jax.devices())
        if all(d.platform == "cpu" for d in devices):
            if len(devices) < 2:
                notes.append(
                    "no GPU here: mirrored runs on one CPU replica, as auto would (XLA_FLAGS="
                    "--xla_force_host_platform_device_count=N gives JAX N CPU devices)"
                )
                return Distribution(
                    Placement("mirrored", 1, (_host(),), ("CPU:0",), notes=tuple(notes)),
                    notes=notes,
                )
            notes.append(f"no GPU here: mirrored runs on the {len(devices)} CPU devices")
    distribution = keras.distribution.DataParallel(devices=devices)
    shard = None
    if cluster is not None:
        # Keras shards only a tf.data.Dataset across processes; arrays are shared out
        # here instead (see the engine), each process feeding its own part.
        distribution.auto_shard_dataset = False
        shard = (cluster.rank, cluster.size)
    placement = Placement(
        strategy,
        len(devices),
        _cluster_hosts(cluster) if cluster is not None else (_host(),),
        tuple(f"{d.platform.upper()}:{d.id}" for d in devices),
        workers=cluster.size if cluster is not None else 1,
        cluster=cluster.key if cluster is not None else "",
        notes=tuple(notes),
    )
    return Distribution(placement, cluster, agree, distribution.scope, None, notes, shard)
