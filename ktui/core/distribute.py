"""Data-parallel training, in plain Python: strategies, ``TF_CONFIG``, placement, health.

A run's ``strategy`` (a preset's ``strategy`` key, the form's field, ``ktui run
--strategy``) is one of :data:`STRATEGIES`:

* ``auto`` — one device, as Keras picks it;
* ``mirrored`` — every local GPU (``tf.distribute.MirroredStrategy`` on TensorFlow,
  ``keras.distribution.DataParallel`` on JAX);
* ``multiworker`` — several processes or hosts, configured by the standard
  ``TF_CONFIG`` (``tf.distribute.MultiWorkerMirroredStrategy``; on JAX
  ``jax.distributed.initialize`` with the first task as coordinator).

Everything that can be refused before Keras loads is here: a ``TF_CONFIG`` that is
not JSON, lacks its cluster or task, names a task that is not in the cluster, or a
port already taken on this machine. :class:`Placement` is what a run records about
where it ran; :func:`health_line` is how every worker's last report is shown.

Plain Python: no TensorFlow, Keras or Textual.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ktui.core.errors import KtuiError

#: The strategies a run can ask for; ``auto`` is one device (the default).
STRATEGIES: tuple[str, ...] = ("auto", "mirrored", "multiworker")

#: The task types of ``TF_CONFIG`` that train (``evaluator`` and ``ps`` are not
#: data-parallel workers of MultiWorkerMirroredStrategy).
_TRAINING_TYPES = ("chief", "worker")

#: A worker whose last report is older than this many seconds while the run goes on
#: is taken for dead: the run fails naming it, rather than hang in a collective.
#: (A paused run keeps reporting: pauses are not counted.)
WORKER_TIMEOUT = float(os.environ.get("KTUI_WORKER_TIMEOUT", "30"))

#: Every worker reports its step to the store at least this often.
BEAT_INTERVAL = 1.0

#: Workers agree on pause, stop and learning-rate changes every this many steps (one
#: small collective), so a command applies at the same step everywhere.
AGREE_EVERY = int(os.environ.get("KTUI_AGREE_EVERY", "5"))

HOW_TO_CONFIGURE = (
    'Set TF_CONFIG to JSON like {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}, the same cluster on every host and each '
    "host's own index."
)


def normalize_strategy(name: str, *, where: str = "strategy") -> str:
    """``name`` as ktui spells it; a :class:`KtuiError` names the choices otherwise."""
    lowered = name.strip().lower().replace("-", "").replace("_", "")
    if lowered not in STRATEGIES:
        raise KtuiError(
            f"{where}: unknown strategy {name!r}", hint=f"Choose one of {', '.join(STRATEGIES)}."
        )
    return lowered


@dataclass(frozen=True)
class Cluster:
    """The processes of a multi-worker run and which one this is, from ``TF_CONFIG``."""

    tasks: tuple[tuple[str, str], ...]
    """``(type, address)`` of every training task, chief first, then workers in order."""
    rank: int
    """This process's place in :attr:`tasks` (0 is the chief)."""
    task_type: str
    task_index: int

    @property
    def size(self) -> int:
        """How many processes train."""
        return len(self.tasks)

    @property
    def is_chief(self) -> bool:
        """The chief records the run's epochs, takes its commands and saves its model:
        the ``chief`` task, else worker 0."""
        return self.rank == 0

    @property
    def address(self) -> str:
        """This task's ``host:port``."""
        return self.tasks[self.rank][1]

    @property
    def coordinator(self) -> str:
        """The chief's ``host:port`` (JAX's coordinator)."""
        return self.tasks[0][1]

    @property
    def key(self) -> str:
        """A short id of the cluster, the same on every host: pairs the workers' reports
        with the chief's run in the store."""
        text = json.dumps(self.tasks, separators=(",", ":"))
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def name(self, rank: int | None = None) -> str:
        """``w0``, ``w1``… (``w0`` is the chief)."""
        return f"w{self.rank if rank is None else rank}"

    def describe(self, rank: int | None = None) -> str:
        """``w1 (worker 1, 10.0.0.2:12345)``."""
        rank = self.rank if rank is None else rank
        kind, address = self.tasks[rank]
        index = sum(1 for t, _ in self.tasks[:rank] if t == kind)
        return f"{self.name(rank)} ({kind} {index}, {address})"


def _bad(problem: str, hint: str = HOW_TO_CONFIGURE) -> KtuiError:
    return KtuiError(f"TF_CONFIG: {problem}", hint=hint)


def parse_tf_config(text: str | None) -> Cluster:
    """The cluster of ``TF_CONFIG`` (its text), or a :class:`KtuiError` saying what is
    wrong with it and how it should look."""
    if text is None or not text.strip():
        raise _bad("not set; the multiworker strategy reads the cluster from it")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise _bad(f"not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise _bad(f"expected a JSON object, got {type(raw).__name__}")
    cluster = raw.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise _bad('no "cluster": expected {"worker": ["host:port", ...]}')
    task = raw.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise _bad('no "task": expected {"type": "worker", "index": N} naming this process')
    tasks: list[tuple[str, str]] = []
    positions: dict[tuple[str, int], int] = {}
    for kind in _TRAINING_TYPES:
        addresses = cluster.get(kind, [])
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list):
            raise _bad(f'cluster "{kind}": expected a list of "host:port", got {addresses!r}')
        for index, address in enumerate(addresses):
            if not isinstance(address, str) or not _split_address(address):
                raise _bad(
                    f'cluster "{kind}"[{index}]: expected "host:port", got {address!r}'
                )
            positions[(kind, index)] = len(tasks)
            tasks.append((kind, address))
    if not tasks:
        raise _bad('the cluster has no "chief" or "worker" tasks')
    if len(cluster.get("chief", []) or []) > 1:
        raise _bad('a cluster has at most one "chief"')
    task_type, task_index = task.get("type"), task.get("index")
    if not isinstance(task_type, str) or task_type not in _TRAINING_TYPES:
        raise _bad(f'task type {task_type!r}: ktui trains as "chief" or "worker"')
    kind = task_type
    if isinstance(task_index, bool) or not isinstance(task_index, int):
        raise _bad(f"task index {task_index!r}: expected a whole number")
    index = task_index
    count = sum(1 for t, _ in tasks if t == kind)
    if (kind, index) not in positions:
        raise _bad(
            f"task index {index} is out of range: the cluster has {count} {kind} task(s), "
            f"numbered 0 to {count - 1}" if count else f'the cluster has no "{kind}" tasks',
            hint="Give each host its own index into the cluster's list.",
        )
    return Cluster(tuple(tasks), positions[(kind, index)], kind, index)


def _split_address(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def _is_local(host: str) -> bool:
    if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.startswith("127."):
        return True
    try:
        names = {socket.gethostname(), socket.getfqdn()}
        if host in names:
            return True
        wanted = {info[4][0] for info in socket.getaddrinfo(host, None)}
        own = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return False
    return bool(wanted & own)


def workers_on_this_machine(cluster: Cluster) -> int:
    """How many of ``cluster``'s tasks have an address on this machine (this one too)."""
    local = 0
    for index, (_, address) in enumerate(cluster.tasks):
        parts = _split_address(address)
        if index == cluster.rank or (parts is not None and _is_local(parts[0])):
            local += 1
    return local


def check_port(cluster: Cluster) -> None:
    """Refuse (:class:`KtuiError`) a port of this task that another process holds.

    Only this task's own address is checked, and only when it is on this machine:
    another host's port is that host's business."""
    parts = _split_address(cluster.address)
    if parts is None:  # pragma: no cover - parse_tf_config checked it
        return
    host, port = parts
    if not _is_local(host):
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))  # every interface: a listener on any of them counts
        except OSError as exc:
            raise KtuiError(
                f"TF_CONFIG: port {port} of this task ({cluster.describe()}) is in use "
                f"on this machine ({exc.strerror or exc})",
                hint="Stop what holds it (`ss -ltnp | grep :PORT` shows it), or give this "
                "task another port in TF_CONFIG's cluster, the same on every host.",
            ) from None


def cluster_from_environment(env: Mapping[str, str] | None = None) -> Cluster:
    """The cluster of this process's ``TF_CONFIG``, checked, port included."""
    cluster = parse_tf_config((env if env is not None else os.environ).get("TF_CONFIG"))
    check_port(cluster)
    return cluster


def per_replica_text(batch_size: int, replicas: int) -> str:
    """What a batch size means under data parallelism: ``batch 128 global = 64 per
    replica × 2 replicas`` (a global batch that does not divide says so)."""
    if replicas <= 1:
        return f"batch {batch_size} (one replica)"
    per, rest = divmod(batch_size, replicas)
    text = f"batch {batch_size} global = {per} per replica × {replicas} replicas"
    if rest:
        text += f" (uneven: {rest} replica(s) take one more)"
    return text


@dataclass(frozen=True)
class Placement:
    """Where a run ran: its strategy, hosts, devices and replicas (recorded per run)."""

    strategy: str
    replicas: int = 1
    hosts: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    workers: int = 1
    cluster: str = ""
    """:attr:`Cluster.key` of a multi-worker run; empty otherwise."""
    notes: tuple[str, ...] = field(default=())
    """What the strategy made of the machine (``no GPU: mirrored runs on one CPU replica``)."""
    visible_devices: str | None = None
    """The process's ``CUDA_VISIBLE_DEVICES`` (``--devices``, the form's devices, a sweep
    worker's GPU); None when it was not set (every GPU). A re-run sets it again."""

    def describe(self) -> str:
        """``mirrored · 2 replicas (GPU:0, GPU:1) · gpu1`` for the status line and
        ``runs show``."""
        parts = [self.strategy]
        if self.workers > 1:
            parts.append(f"{self.workers} workers")
        replicas = f"{self.replicas} replica{'s' if self.replicas != 1 else ''}"
        if self.devices:
            shown = ", ".join(self.devices[:4]) + (" …" if len(self.devices) > 4 else "")
            replicas += f" ({shown})"
        parts.append(replicas)
        if self.hosts:
            parts.append(", ".join(self.hosts))
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """As stored (a JSON object)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @staticmethod
    def from_json(data: Mapping[str, Any] | None) -> Placement | None:
        """Back from :meth:`to_json`; None for a run recorded without one."""
        if not data or not isinstance(data.get("strategy"), str):
            return None
        try:
            return Placement(
                strategy=str(data["strategy"]),
                replicas=int(data.get("replicas") or 1),
                hosts=tuple(str(h) for h in data.get("hosts") or ()),
                devices=tuple(str(d) for d in data.get("devices") or ()),
                workers=int(data.get("workers") or 1),
                cluster=str(data.get("cluster") or ""),
                notes=tuple(str(n) for n in data.get("notes") or ()),
                visible_devices=None
                if data.get("visible_devices") is None
                else str(data["visible_devices"]),
            )
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class WorkerReport:
    """One worker's last report (a row of the store's ``workers`` table)."""

    cluster: str
    rank: int
    host: str
    pid: int
    phase: str
    epoch: int
    step: int
    updated_at: float
    """Unix time of the report."""

    def age(self, now: float | None = None) -> float:
        """Seconds since the report."""
        return max(0.0, (time.time() if now is None else now) - self.updated_at)


def health_line(reports: Sequence[WorkerReport], workers: int, now: float | None = None) -> str:
    """``2 workers: w0 step 120, w1 step 118`` (a silent one: ``w1 silent 75 s``; one that
    never reported: ``w1 no report``)."""
    by_rank = {r.rank: r for r in reports}
    parts = []
    for rank in range(max(workers, max(by_rank, default=-1) + 1)):
        report = by_rank.get(rank)
        if report is None:
            parts.append(f"w{rank} no report")
            continue
        age = report.age(now)
        text = f"w{rank} step {report.step}"
        if report.phase not in ("running", ""):
            text += f" {report.phase}"
        if age >= WORKER_TIMEOUT / 4 and report.phase != "finished":
            text += f" silent {age:.0f} s"
        parts.append(text)
    count = len(parts)
    return f"{count} worker{'s' if count != 1 else ''}: " + ", ".join(parts)


def dead_worker(
    reports: Sequence[WorkerReport],
    *,
    own_rank: int,
    timeout: float = WORKER_TIMEOUT,
    now: float | None = None,
    alive: Any = None,
) -> WorkerReport | None:
    """The first other worker that is gone: its report is older than ``timeout`` (and
    it is not ``finished``), or ``alive(report)`` says its process is gone (a worker on
    this host). None when all are well."""
    for report in sorted(reports, key=lambda r: r.rank):
        if report.rank == own_rank or report.phase in ("finished", "ended"):
            continue
        if report.age(now) > timeout:
            return report
        if alive is not None and alive(report) is False:
            return report
    return None
