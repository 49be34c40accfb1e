"""NVML adapter: reads GPU facts through the real pynvml and classifies every NVML failure.

Thin on purpose: no verdicts here. A fact NVML does not support on a GPU is recorded as unsupported
and the run goes on; a GPU that falls off the bus mid-query is marked lost with what was read so far.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from greenzone.preflight.facts_model import GpuFacts, NvmlFacts, NvmlState, RemappedRows

log = logging.getLogger(__name__)
T = TypeVar("T")


class _GpuLost(Exception):
    pass


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _classify(nvml: Any, error: Exception) -> tuple[NvmlState, str]:
    code = getattr(error, "value", None)
    if code == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return "no_library", "libnvidia-ml.so.1 was not found: no NVIDIA driver is installed"
    if code == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "driver_not_loaded", "the NVIDIA driver is installed but its kernel module is not loaded"
    if code == nvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        return "version_mismatch", "the NVML library and the loaded kernel driver are different versions"
    if code == nvml.NVML_ERROR_NO_PERMISSION:
        return "no_permission", "no permission to talk to the NVIDIA driver"
    return "error", f"NVML failed: {error}"


def read_nvml() -> NvmlFacts:
    try:
        import pynvml as nvml
    except ImportError:  # pragma: no cover - nvidia-ml-py is a dependency
        return NvmlFacts("error", "the nvidia-ml-py package is not installed")
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as error:
        state, detail = _classify(nvml, error)
        log.info("NVML init failed: %s", detail)
        return NvmlFacts(state, detail)
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda = None
        try:
            raw = int(nvml.nvmlSystemGetCudaDriverVersion())
            cuda = f"{raw // 1000}.{raw % 1000 // 10}"
        except nvml.NVMLError:
            pass
        count = int(nvml.nvmlDeviceGetCount())
        gpus = tuple(_read_gpu(nvml, index) for index in range(count))
        return NvmlFacts("ok", "", driver, cuda, gpus)
    except nvml.NVMLError as error:
        state, detail = _classify(nvml, error)
        return NvmlFacts(state, detail)
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()


def _memory_info(nvml: Any, handle: Any) -> Any:
    """NVML's v2 memory reading (driver 510 and later), else v1: only v2 tells the driver's
    reservation apart from what processes hold, which is what `nvidia-smi` shows as used."""
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is not None:
        try:
            return nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
        except (nvml.NVMLError_FunctionNotFound, nvml.NVMLError_NotSupported):
            pass
        except nvml.NVMLError as error:
            if getattr(error, "value", None) != getattr(nvml, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH", -1):
                raise
    return nvml.nvmlDeviceGetMemoryInfo(handle)


def _read_gpu(nvml: Any, index: int) -> GpuFacts:
    facts: dict[str, Any] = {"index": index}
    unsupported: list[str] = []
    errors: list[str] = []

    def fact(name: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except nvml.NVMLError_GpuIsLost:
            raise _GpuLost from None
        except nvml.NVMLError_NotSupported:
            unsupported.append(name)
        except nvml.NVMLError_FunctionNotFound:
            unsupported.append(name)  # an older driver without this entry point
        except nvml.NVMLError as error:
            errors.append(f"{name}: {error}")
        return None

    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        facts["name"] = fact("name", lambda: _text(nvml.nvmlDeviceGetName(handle)))
        facts["uuid"] = fact("uuid", lambda: _text(nvml.nvmlDeviceGetUUID(handle)))
        facts["pci_bus_id"] = fact("pci_bus_id", lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId))
        memory = fact("memory", lambda: _memory_info(nvml, handle))
        if memory is not None:
            facts["memory_total"], facts["memory_used"] = int(memory.total), int(memory.used)
            reserved = getattr(memory, "reserved", None)
            facts["memory_reserved"] = None if reserved is None else int(reserved)
        facts["compute_capability"] = fact(
            "compute_capability", lambda: tuple(nvml.nvmlDeviceGetCudaComputeCapability(handle))
        )
        mig = fact("mig_mode", lambda: nvml.nvmlDeviceGetMigMode(handle))
        if mig is not None:
            facts["mig_current"], facts["mig_pending"] = bool(mig[0]), bool(mig[1])
        facts["temperature_c"] = fact(
            "temperature", lambda: int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        )
        facts["slowdown_temperature_c"] = fact(
            "slowdown_temperature",
            lambda: int(nvml.nvmlDeviceGetTemperatureThreshold(handle, nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)),
        )
        power = fact("power_limit", lambda: int(nvml.nvmlDeviceGetEnforcedPowerLimit(handle)))
        facts["power_limit_w"] = None if power is None else power / 1000
        ecc = fact("ecc_mode", lambda: nvml.nvmlDeviceGetEccMode(handle))
        if ecc is not None:
            facts["ecc_current"], facts["ecc_pending"] = bool(ecc[0]), bool(ecc[1])
            facts["ecc_uncorrected_volatile"] = fact(
                "ecc_errors",
                lambda: int(
                    nvml.nvmlDeviceGetTotalEccErrors(
                        handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
                    )
                ),
            )
        rows = fact("remapped_rows", lambda: nvml.nvmlDeviceGetRemappedRows(handle))
        if rows is not None:
            facts["remapped_rows"] = RemappedRows(int(rows[0]), int(rows[1]), bool(rows[2]), bool(rows[3]))
        persistence = fact("persistence_mode", lambda: nvml.nvmlDeviceGetPersistenceMode(handle))
        facts["persistence_mode"] = None if persistence is None else bool(persistence)

        def clocks_event_reasons() -> int:
            try:
                return int(nvml.nvmlDeviceGetCurrentClocksEventReasons(handle))
            except nvml.NVMLError_FunctionNotFound:  # drivers before 535 only have the old name
                return int(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle))

        facts["clocks_event_reasons"] = fact("clocks_event_reasons", clocks_event_reasons)
    except _GpuLost:
        log.warning("GPU %d was lost while it was being queried", index)
        facts["lost"] = True
    except nvml.NVMLError as error:  # the handle itself could not be had
        errors.append(f"handle: {error}")
    return GpuFacts(**facts, unsupported=tuple(unsupported), errors=tuple(errors))
