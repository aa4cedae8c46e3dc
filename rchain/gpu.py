"""GPU readings through NVML (nvidia-ml-py), sampled into events while a GPU stage runs.

A machine without a GPU (or without the NVIDIA driver) is said so once, plainly, and the monitor
stops: there is nothing to sample.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rchain.events import GpuInfo, GpuSample
from rchain.runs import hostname

DEFAULT_INTERVAL_S = 5.0


class NoGpu(Exception):
    """NVML is missing or sees no GPU; the message says which."""


def read_gpus() -> list[GpuInfo]:
    """One reading of every GPU NVML sees. Raises NoGpu when there is none to read."""
    try:
        import pynvml
    except ImportError as exc:
        raise NoGpu("no GPU: nvidia-ml-py is not installed") from exc
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NoGpu(f"no GPU: NVML is not available ({exc})") from exc
    try:
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            raise NoGpu("no GPU: NVML sees no device")
        return [_read_one(pynvml, i) for i in range(count)]
    finally:
        pynvml.nvmlShutdown()


def _read_one(pynvml, index: int) -> GpuInfo:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(handle)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)

    def optional(read: Callable[[], float]) -> float | None:
        try:
            return read()
        except pynvml.NVMLError:  # not supported on this board (MIG slices, some SKUs)
            return None

    try:
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
        processes = {p.pid: (p.usedGpuMemory or 0) / 2**20 for p in procs}
    except pynvml.NVMLError:
        processes = {}
    return GpuInfo(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        utilization=float(utilization.gpu),
        memory_used_mib=memory.used / 2**20,
        memory_total_mib=memory.total / 2**20,
        temperature_c=optional(lambda: float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))),
        power_w=optional(lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0),
        processes=processes,
    )


class GpuMonitor:
    """A daemon thread emitting a GpuSample every `interval` seconds until stopped."""

    def __init__(
        self,
        emit: Callable[[GpuSample], object],
        *,
        interval: float = DEFAULT_INTERVAL_S,
        read: Callable[[], list[GpuInfo]] = read_gpus,
    ) -> None:
        self._emit = emit
        self._interval = interval
        self._read = read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpu-monitor", daemon=True)
        #: The note emitted when there is no GPU ("" while there is one).
        self.note = ""

    def start(self) -> GpuMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 1)

    def __enter__(self) -> GpuMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        host = hostname()
        while True:
            try:
                gpus = self._read()
            except NoGpu as exc:
                self.note = str(exc)
                self._emit(GpuSample(host=host, note=self.note))
                return
            self._emit(GpuSample(host=host, gpus=gpus))
            if self._stop.wait(self._interval):
                return
