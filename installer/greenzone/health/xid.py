"""NVIDIA Xid reports in the kernel log, parsed and ranked (pure).

NVML has no "errors so far" counter for Xids; the driver writes each one to the kernel log as
`NVRM: Xid (PCI:0000:17:00): 79, pid=..., GPU has fallen off the bus.`, which is where `nvidia-smi`
users and NVIDIA's own Xid catalogue send operators. The ranking follows that catalogue: codes that
mean the hardware or its memory is failing need a reset or a replacement; the others usually mean
one application crashed the GPU context and are worth a look, not a page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from greenzone.health.observed import XidEvent

_LINE = re.compile(r"NVRM: Xid \(PCI:([0-9A-Fa-f:.]+)\): (\d+),\s*(.*)")

CRITICAL: dict[int, str] = {
    48: "double-bit ECC error",
    61: "internal micro-controller breakpoint",
    62: "internal micro-controller halt",
    64: "ECC page retirement or row remapping failed",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
    140: "unrecovered ECC error",
    154: "GPU recovery action required",
}
KNOWN: dict[int, str] = {
    13: "graphics engine exception (usually the application)",
    31: "GPU memory page fault (usually the application)",
    43: "GPU stopped processing (an application was killed)",
    45: "preemptive cleanup after an application ended",
    63: "ECC page retirement or row remapping recorded",
    **CRITICAL,
}


def parse_kernel_log(lines: Iterable[str]) -> tuple[XidEvent, ...]:
    """Every Xid line, in order; `/dev/kmsg` records (`6,123,456,-;text`) and `dmesg` lines alike."""
    found = []
    for line in lines:
        match = _LINE.search(line)
        if match:
            found.append(XidEvent(match.group(1).lower(), int(match.group(2)), match.group(3).strip()))
    return tuple(found)


def describe(code: int) -> str:
    return KNOWN.get(code, "see NVIDIA's Xid catalogue")
