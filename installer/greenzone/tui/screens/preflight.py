"""Preflight: this machine's checks as they come in, the GPUs NVML sees, and what blocks the install.

A failing check keeps Next disabled and shows its remedy. The administrator may accept the named
failures after a confirmation, which is exactly `--force-preflight NAMES` of an unattended install:
the install's own preflight on the nodes is told the same names, and the run's log records them.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, Static

from greenzone.install.gate import Gate, preflight_gate
from greenzone.install.session import has_local_node
from greenzone.preflight.facts_model import Facts
from greenzone.results import Status
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.screens.confirm import Confirm
from greenzone.tui.widgets import GLYPH, NavBar

GiB = 2**30


class PreflightScreen(WizardScreen):
    STEP = "Step 2 of 6 · This machine"

    @property
    def gpu_table(self) -> DataTable[str]:
        return self.query_one("#gpus", DataTable)

    @property
    def check_table(self) -> DataTable[str]:
        return self.query_one("#checks", DataTable)

    @property
    def summary_line(self) -> Static:
        return self.query_one("#preflight-summary", Static)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with VerticalScroll(id="body"):
            yield Static("Checking this machine…", id="preflight-summary")
            yield Static("", id="blocking")
            yield DataTable(id="gpus", cursor_type="none", zebra_stripes=True)
            yield DataTable(id="checks", cursor_type="row", zebra_stripes=True)
        yield NavBar(Button("Re-run", id="rerun"), Button("Accept failures", id="accept", variant="warning"))
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#accept", Button).display = False
        self.gpu_table.add_columns("GPU", "model", "memory", "temp", "ECC")
        self.check_table.add_columns("status", "check", "detail")
        if self.wizard.gate is not None and self.wizard.facts is not None:
            self._show(self.wizard.facts, self.wizard.gate)
        else:
            self.run_checks()

    @on(Button.Pressed, "#rerun")
    def run_checks(self) -> None:
        self.allow_next(False)
        self.summary_line.update("Checking this machine…")
        self._gather()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def _gather(self) -> None:
        answers = self.wizard.answers
        facts = self.session.facts(answers)
        gate = self.session.preflight(facts if has_local_node(answers) else None, answers, self.wizard.manifest)
        self.app.call_from_thread(self._show, facts, gate)

    def _show(self, facts: Facts, gate: Gate) -> None:
        self.wizard.facts, self.wizard.gate = facts, gate
        gpus = self.gpu_table
        gpus.clear()
        for gpu in facts.nvml.gpus:
            ecc = "lost" if gpu.lost else ("on" if gpu.ecc_current else "off" if gpu.ecc_current is False else "?")
            memory = f"{(gpu.memory_total or 0) / GiB:.0f} GiB" if gpu.memory_total else "?"
            temp = f"{gpu.temperature_c} °C" if gpu.temperature_c is not None else "?"
            gpus.add_row(str(gpu.index), gpu.name or "?", memory, temp, ecc)
        gpus.display = bool(facts.nvml.gpus)
        table = self.check_table
        table.clear()
        order = {Status.FAIL: 0, Status.WARN: 1, Status.PASS: 2, Status.SKIP: 3}
        for check in sorted(gate.checks, key=lambda c: order[c.status]):
            table.add_row(GLYPH[check.status], check.name, check.detail)
        answers = self.wizard.answers
        if not has_local_node(answers):
            # This machine is not a node: its GPUs and counts would only mislead.
            assert answers is not None
            gpus.display = False
            nodes = ", ".join(f"{node.name or node.address} ({node.address}, {node.role})" for node in answers.nodes)
            self.summary_line.update(
                f"No node of the answers is this machine. The install's preflight phase checks each node over "
                f"SSH before anything changes: {nodes}. GPU quotas and model fit are checked there too."
            )
        else:
            self._summarise(facts, gate)
        self._show_gate(gate)

    def _summarise(self, facts: Facts, gate: Gate) -> None:
        counts = {status: sum(c.status is status for c in gate.checks) for status in Status}
        driver = f"driver {facts.nvml.driver_version}, " if facts.nvml.driver_version else ""
        self.summary_line.update(
            f"{len(facts.nvml.gpus)} GPU(s), {driver}{facts.host.cpu_cores} cores, "
            f"{facts.host.memory_bytes / GiB:.0f} GiB RAM — {counts[Status.PASS]} pass, "
            f"{counts[Status.WARN]} warn, {counts[Status.FAIL]} fail"
        )

    def _show_gate(self, gate: Gate) -> None:
        blocking = self.query_one("#blocking", Static)
        warnings = [
            f"{GLYPH[Status.WARN]} {check.name}: {check.detail}"
            + (f"\n    fix: {check.remedy}" if check.remedy else "")
            for check in gate.checks
            if check.status is Status.WARN
        ]
        notes = ("\nThe install goes on with these warnings:\n" + "\n".join(warnings)) if warnings else ""
        if gate.open:
            blocking.update(f"{GLYPH[Status.PASS]} nothing blocks the install.{notes}")
        else:
            lines = [
                f"{GLYPH[Status.FAIL]} {check.name}: {check.detail}\n    fix: {check.remedy}" for check in gate.blocking
            ]
            blocking.update(
                "These must be fixed before installing (then Re-run), or accepted with “Accept failures”:\n"
                + "\n".join(lines)
                + notes
            )
        blocking.set_class(not gate.open, "blocked")
        self.query_one("#accept", Button).display = not gate.open
        self.allow_next(gate.open)
        # Enter goes on (or accepts) at once, and the focus is visible from the start.
        (self.next_button if gate.open else self.query_one("#accept", Button)).focus()

    def why_blocked(self) -> str:
        gate = self.wizard.gate
        if gate is None:
            return "Next waits for the checks of this machine to finish."
        names = ", ".join(check.name for check in gate.blocking)
        return f"Next is blocked by failing checks: {names}. Fix them and Re-run, or choose “Accept failures”."

    @on(Button.Pressed, "#accept")
    def accept_failures(self) -> None:
        gate, facts = self.wizard.gate, self.wizard.facts
        if gate is None or facts is None or gate.open:
            return
        names = sorted(check.name for check in gate.blocking)

        def answered(yes: bool | None) -> None:
            if yes:
                self.session.forced = self.session.forced | frozenset(names)
                self._show(facts, preflight_gate(gate.checks, self.session.forced))

        self.app.push_screen(
            Confirm(
                f"Install although these checks fail: {', '.join(names)}? The install may not work; this is "
                f"`--force-preflight {','.join(names)}`, and the install log records it.",
                yes="Accept",
            ),
            answered,
        )
