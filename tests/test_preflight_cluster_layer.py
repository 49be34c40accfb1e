"""Preflight's judgement of what k3s and the GPU operator need from a node (issue 20), on real facts
of this machine with one fact changed at a time, and the probe's readers on real-shaped /proc files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from greenzone.bundle.manifest import BundleFile, Manifest
from greenzone.preflight import probe
from greenzone.preflight.facts_model import HostFacts, host_facts
from greenzone.preflight.rules import bundle_platform_check, host_checks
from greenzone.results import Status


@pytest.fixture(scope="module")
def host() -> HostFacts:
    return host_facts(probe.collect(Path("/"), [], []), {})


def _check(facts: HostFacts, name: str) -> tuple[Status, str, str] | None:
    found = {check.name: check for check in host_checks(facts, None)}
    check = found.get(name)
    return None if check is None else (check.status, check.detail, check.remedy)


@pytest.mark.parametrize(
    ("os_id", "version", "status"),
    [("ubuntu", "22.04", Status.PASS), ("ubuntu", "24.04", Status.PASS), ("ubuntu", "26.04", Status.PASS),
     ("ubuntu", "20.04", Status.FAIL), ("debian", "12", Status.FAIL), ("rhel", "9.4", Status.FAIL),
     ("rocky", "8.10", Status.FAIL)],
)  # fmt: skip
def test_only_the_gpu_operators_validated_k3s_platforms_pass(
    host: HostFacts, os_id: str, version: str, status: Status
) -> None:
    judged = _check(dataclasses.replace(host, os_id=os_id, os_version=version), "os")
    assert judged is not None and judged[0] is status
    if status is Status.FAIL:
        assert "Ubuntu 22.04, 24.04 and 26.04" in judged[2] and "--force-preflight os" in judged[2]


def test_a_node_without_a_default_route_is_refused_with_the_black_hole_remedy(host: HostFacts) -> None:
    judged = _check(dataclasses.replace(host, default_route=False), "default route")
    assert judged is not None and judged[0] is Status.FAIL and "ip route add default dev dummy0" in judged[2]
    passed = _check(dataclasses.replace(host, default_route=True), "default route")
    assert passed is not None and passed[0] is Status.PASS


def test_enforcing_selinux_is_refused_and_permissive_is_not(host: HostFacts) -> None:
    judged = _check(dataclasses.replace(host, selinux="enforcing"), "selinux")
    assert judged is not None and judged[0] is Status.FAIL and "k3s-selinux" in judged[2]
    assert _check(dataclasses.replace(host, selinux="permissive"), "selinux") is None


def test_a_node_whose_architecture_the_bundle_does_not_carry_is_refused(host: HostFacts) -> None:
    manifest = Manifest(
        format_version=1,
        product_version="t",
        files=[
            BundleFile(
                path="runtime/cpython-3.11.15-x86_64-unknown-linux-gnu-install_only.tar.gz", size=1, sha256="a" * 64
            )
        ],
    )
    refused = bundle_platform_check(dataclasses.replace(host, arch="aarch64"), manifest)
    assert refused.status is Status.FAIL and "x86_64" in refused.detail and "aarch64" in refused.remedy
    assert bundle_platform_check(dataclasses.replace(host, arch="x86_64"), manifest).status is Status.PASS
    # A node's preflight gets the machine list the installer took from the manifest.
    from greenzone.preflight.node import node_checks
    from greenzone.preflight.rules import bundle_machines

    assert bundle_machines(manifest) == ["x86_64"]
    raw = {**probe.collect(Path("/"), [], []), "arch": "aarch64"}
    (judged,) = [check for check in node_checks(raw, machines=["x86_64"]) if check.name == "bundle platform"]
    assert judged.status is Status.FAIL


def test_the_probe_reads_default_routes_and_selinux_as_the_kernel_writes_them(tmp_path: Path) -> None:
    net = tmp_path / "proc" / "net"
    net.mkdir(parents=True)
    header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    (net / "route").write_text(header + "eth0\t0014A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
    (net / "ipv6_route").write_text("")
    assert probe.default_route(tmp_path) is False
    (net / "route").write_text(header + "eth0\t00000000\t0114A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
    assert probe.default_route(tmp_path) is True
    (net / "route").write_text(header)
    (net / "ipv6_route").write_text(
        f"{'0' * 32} 00 {'0' * 32} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n"
    )
    assert probe.default_route(tmp_path) is True
    assert probe.selinux_mode(tmp_path) == "disabled"
    selinux = tmp_path / "sys" / "fs" / "selinux"
    selinux.mkdir(parents=True)
    (selinux / "enforce").write_text("1")
    assert probe.selinux_mode(tmp_path) == "enforcing"
    (selinux / "enforce").write_text("0")
    assert probe.selinux_mode(tmp_path) == "permissive"


PRECOMPILED = "nvcr.io/nvidia/driver:580-6.8.0-60-generic-ubuntu24.04"
ORDINARY = "nvcr.io/nvidia/driver:580.105.08-ubuntu24.04"


def test_only_precompiled_driver_images_count_as_offline_drivers() -> None:
    from greenzone.values.gpu_operator import PrecompiledDriver, precompiled_drivers

    assert precompiled_drivers([PRECOMPILED, ORDINARY, "nvcr.io/nvidia/gpu-operator:v26.7.0"]) == [
        PrecompiledDriver("580", "6.8.0-60-generic", "ubuntu24.04")
    ]


def test_the_operator_driver_mode_is_refused_for_a_bundle_without_precompiled_images() -> None:
    from greenzone.answers.rules import Context, check_rules
    from greenzone.answers.validate import validate_text
    from tests.support.cli import MINIMAL

    answers = validate_text(MINIMAL + "gpu:\n  driver: operator\n", "site.yaml").answers
    assert answers is not None
    refused = [
        p for p in check_rules(answers, Context(bundle_images=frozenset({ORDINARY}))) if p.path == ("gpu", "driver")
    ]
    assert refused and "cannot work offline" in refused[0].message and "preinstalled" in refused[0].hint
    assert not [
        p for p in check_rules(answers, Context(bundle_images=frozenset({PRECOMPILED}))) if p.path == ("gpu", "driver")
    ]


def test_the_operator_runs_precompiled_drivers_only(host: HostFacts) -> None:
    from greenzone.answers.validate import validate_text
    from greenzone.values.gpu_operator import DRIVER_BRANCH, gpu_operator_values
    from tests.support.cli import MINIMAL

    operator = validate_text(MINIMAL + "gpu:\n  driver: operator\n", "site.yaml").answers
    preinstalled = validate_text(MINIMAL, "site.yaml").answers
    assert operator is not None and preinstalled is not None
    assert gpu_operator_values(operator)["driver"] == {
        "enabled": True,
        "usePrecompiled": True,
        "version": DRIVER_BRANCH,
    }
    assert gpu_operator_values(preinstalled)["driver"] == {"enabled": False}


def test_a_gpu_nodes_kernel_needs_its_precompiled_image_in_the_bundle(host: HostFacts) -> None:
    from greenzone.preflight.node import node_checks
    from greenzone.preflight.rules import driver_image_check

    node = dataclasses.replace(host, os_id="ubuntu", os_version="24.04", kernel="6.8.0-60-generic")
    assert driver_image_check(node, [PRECOMPILED]).status is Status.PASS
    other = dataclasses.replace(node, kernel="6.8.0-71-generic")
    refused = driver_image_check(other, [PRECOMPILED, ORDINARY])
    assert refused.status is Status.FAIL
    assert "6.8.0-71-generic" in refused.detail and "6.8.0-60-generic (ubuntu24.04, R580)" in refused.detail
    assert "nvcr.io/nvidia/driver:580-6.8.0-71-generic-ubuntu24.04" in refused.remedy
    raw = probe.collect(Path("/"), [], [])
    assert "driver image" in {check.name for check in node_checks(raw, [PRECOMPILED])}
    assert "driver image" not in {check.name for check in node_checks(raw)}


def test_the_clock_is_judged_by_the_kernel_where_systemd_cannot_say(tmp_path: Path) -> None:
    """An Ubuntu 24.04 VM without systemd or a sync daemon (the device machine, 2026-11-26) said
    "clock unknown"; adjtimex(2) answers there, and on chrony hosts that never write timesyncd's flag."""
    maxerror = probe.kernel_clock_maxerror_us()
    assert isinstance(maxerror, int) and maxerror >= 0  # the real syscall, read only, no privilege
    assert probe.time_sync(tmp_path, set(), 250_000) == "synchronized"
    assert probe.time_sync(tmp_path, set(), probe.SYNCED_MAXERROR_US) == "not synchronized"
    assert probe.time_sync(tmp_path, {"chronyd"}, probe.SYNCED_MAXERROR_US) == "service running"
    assert probe.time_sync(tmp_path, set(), None) == "unknown"
    flag = tmp_path / "run" / "systemd" / "timesync" / "synchronized"
    flag.parent.mkdir(parents=True)
    flag.touch()
    assert probe.time_sync(tmp_path, set(), probe.SYNCED_MAXERROR_US) == "synchronized"
    raw = probe.collect(Path("/"), [], [])
    expected = probe.time_sync(Path("/"), set(probe.processes(Path("/")).values()), maxerror)
    assert raw["time_sync"] == expected


def test_modules_built_into_a_kernel_without_lib_modules_count_as_there(tmp_path: Path) -> None:
    """The device machine's kernel (6.18 Firecracker, no /lib/modules) gave "br_netfilter: kernel module
    unknown"; the kernel says a module's function is there through /proc, loaded or built in."""
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "filesystems").write_text("nodev\tsysfs\nnodev\toverlay\n\text4\n")
    assert probe.module_states(("overlay", "br_netfilter"), tmp_path, "6.18.44") == {
        "overlay": "loaded",
        "br_netfilter": "unknown",
    }
    bridge = tmp_path / "proc" / "sys" / "net" / "bridge"
    bridge.mkdir(parents=True)
    (bridge / "bridge-nf-call-iptables").write_text("1\n")
    assert probe.module_states(("br_netfilter",), tmp_path, "6.18.44") == {"br_netfilter": "loaded"}
    (tmp_path / "lib" / "modules" / "6.18.44").mkdir(parents=True)
    assert probe.module_states(("nouveau",), tmp_path, "6.18.44") == {"nouveau": "missing"}
