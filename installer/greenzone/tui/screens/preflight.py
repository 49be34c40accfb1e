"""Preflight: this machine's checks as they come in, the GPUs NVML sees, and what blocks the install.

A failing check keeps Next disabled and shows its remedy; the wizard has no override on purpose
(a site administrator at the console fixes the machine). Unattended installs can name overrides
with `--force-preflight`.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, Static

from greenzone.install.gate import Gate
from greenzone.install.session import has_local_node
from greenzone.preflight.facts_model import Facts
from greenzone.results import Status
from greenzone.tui.screens.base import WizardScreen
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
        yield NavBar(Button("Re-run", id="rerun"))
        yield Footer()

    def on_mount(self) -> None:
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
        counts = {status: sum(c.status is status for c in gate.checks) for status in Status}
        driver = f"driver {facts.nvml.driver_version}, " if facts.nvml.driver_version else ""
        self.summary_line.update(
            f"{len(facts.nvml.gpus)} GPU(s), {driver}{facts.host.cpu_cores} cores, "
            f"{facts.host.memory_bytes / GiB:.0f} GiB RAM — {counts[Status.PASS]} pass, "
            f"{counts[Status.WARN]} warn, {counts[Status.FAIL]} fail"
        )
        blocking = self.query_one("#blocking", Static)
        if gate.open:
            blocking.update(f"{GLYPH[Status.PASS]} nothing blocks the install.")
        else:
            lines = [
                f"{GLYPH[Status.FAIL]} {check.name}: {check.detail}\n    fix: {check.remedy}" for check in gate.blocking
            ]
            blocking.update("These must be fixed before installing (then Re-run):\n" + "\n".join(lines))
        blocking.set_class(not gate.open, "blocked")
        self.allow_next(gate.open)
