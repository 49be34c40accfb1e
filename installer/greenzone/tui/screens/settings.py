"""Settings: what the appliance will be, validated on every change by the answer model and rules.

The form edits the answer document (tui/form.py); every change re-runs the same validation as
`greenzone answers validate` plus the bundle's model list and this machine's GPUs, and shows each
problem under the field it belongs to. "Fits in VRAM" is preflight's own fit check, live.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Footer, Header, Input, Label, Select, SelectionList, Static

from greenzone.answers.rules import Context
from greenzone.install.session import has_local_node
from greenzone.preflight.rules import fit_checks
from greenzone.results import Status
from greenzone.tui.form import FIELD_PATHS, Form, apply_form, field_of, form_from_document, validate_document
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.widgets import GLYPH, NavBar

GiB = 2**30


def _row(label: str, widget: Widget, name: str) -> ComposeResult:
    with Horizontal(classes="row", id=f"row-{name}"):
        yield Label(label, classes="field-label")
        yield widget
    yield Static("", id=f"{name}-error", classes="field-error")


class SettingsScreen(WizardScreen):
    def compose(self) -> ComposeResult:
        form = form_from_document(self.wizard.document)
        yield Header(show_clock=False)
        with VerticalScroll(id="body"):
            yield from _row(
                "Appliance name", Input(form.appliance_name, id="appliance_name", compact=True), "appliance_name"
            )
            yield from _row(
                "Host name", Input(form.hostname, placeholder="ai.site.local", id="hostname", compact=True), "hostname"
            )
            yield from _row(
                "Advertise IP",
                Input(form.advertise_ip, placeholder="default route's address", id="advertise_ip", compact=True),
                "advertise_ip",
            )
            tls = Select(
                [("self-signed CA", "self-signed"), ("provided certificate", "provided")],
                value=form.tls_mode,
                allow_blank=False,
                id="tls_mode",
                compact=True,
            )
            yield from _row("Harbor TLS", tls, "tls_mode")
            yield from _row(
                "  certificate",
                Input(form.cert_file, placeholder="/etc/ssl/site.pem", id="cert_file", compact=True),
                "cert_file",
            )
            yield from _row(
                "  private key",
                Input(form.key_file, placeholder="/etc/ssl/site.key", id="key_file", compact=True),
                "key_file",
            )
            engine = Select(
                [("Ollama", "ollama"), ("vLLM", "vllm")],
                value=form.engine,
                allow_blank=False,
                id="engine",
                compact=True,
            )
            yield from _row("Engine", engine, "engine")
            models = SelectionList[str](id="models", compact=True)
            yield from _row("Models", models, "models")
            yield from _row(
                "GPUs per replica",
                Input(form.gpus_per_replica, id="gpus_per_replica", compact=True),
                "gpus_per_replica",
            )
            yield Static("", id="fit")
            yield from _row(
                "Departments",
                Input(
                    form.departments,
                    placeholder="none yet, e.g. legal:1:32Gi, hr:0:8Gi",
                    id="departments",
                    compact=True,
                ),
                "departments",
            )
            egress = Select(
                [("deny (DNS only)", "deny"), ("allow-list", "allow-list")],
                value=form.egress,
                allow_blank=False,
                id="egress",
                compact=True,
            )
            yield from _row("Egress", egress, "egress")
            yield from _row(
                "  allowed CIDRs",
                Input(form.allow_cidrs, placeholder="10.20.0.0/16", id="allow_cidrs", compact=True),
                "allow_cidrs",
            )
            yield from _row(
                "Dashboards",
                Checkbox("GPU and usage dashboards", form.monitoring, id="monitoring", compact=True),
                "monitoring",
            )
            yield Static("", id="problems")
        yield NavBar()
        yield Footer()

    def on_mount(self) -> None:
        self._fill_models(form_from_document(self.wizard.document))
        self.revalidate()
        self.query_one("#hostname", Input).focus()

    def _fill_models(self, form: Form) -> None:
        models = self.query_one("#models", SelectionList)
        models.clear_options()
        engine = str(self.query_one("#engine", Select).value)
        manifest = self.wizard.manifest
        offered = [model for model in (manifest.models if manifest else ()) if model.engine == engine]
        # Nothing chosen yet (a fresh wizard, or the engine just changed): start with the first model.
        chosen = set(form.models) & {model.name for model in offered} or {model.name for model in offered[:1]}
        for model in offered:
            label = f"{model.name}  ({model.vram_bytes / GiB:.1f} GiB VRAM)"
            models.add_option((label, model.name, model.name in chosen))

    def _form(self) -> Form:
        value: dict[str, Any] = {}
        for name in FIELD_PATHS:
            if name == "models":
                value[name] = tuple(self.query_one("#models", SelectionList).selected)
            elif name == "monitoring":
                value[name] = self.query_one("#monitoring", Checkbox).value
            elif name in ("tls_mode", "engine", "egress"):
                value[name] = str(self.query_one(f"#{name}", Select).value)
            else:
                value[name] = self.query_one(f"#{name}", Input).value
        return Form(**value)

    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Checkbox.Changed)
    def revalidate(self) -> None:
        form = self._form()
        for name in ("cert_file", "key_file"):
            self.query_one(f"#row-{name}").display = form.tls_mode == "provided"
        self.query_one("#row-allow_cidrs").display = form.egress == "allow-list"
        document, problems = apply_form(self.wizard.document, form)
        manifest, facts = self.wizard.manifest, self.wizard.facts
        gpus = len(facts.nvml.gpus) if facts is not None and facts.nvml.state == "ok" else None
        context = Context(
            gpus_present=gpus,
            bundle_models=frozenset(model.name for model in manifest.models) if manifest else None,
            bundle_source=str(self.wizard.bundle or ""),
        )
        validation = validate_document(document, context)
        problems = [*problems, *validation.problems]
        errors: dict[str, list[str]] = {}
        unowned = []
        for problem in problems:
            if problem.severity != "error" and problem.severity != "warning":
                continue
            text = f"{problem.message} — {problem.hint}" if problem.hint else problem.message
            owner = field_of(problem.path)
            if owner:
                errors.setdefault(owner, []).append(("" if problem.severity == "error" else "warning: ") + text)
            else:
                unowned.append(f"{'.'.join(str(p) for p in problem.path) or 'file'}: {text}")
        for name in FIELD_PATHS:
            label = self.query_one(f"#{name}-error", Static)
            label.update("\n".join(f"↳ {line}" for line in errors.get(name, [])))
            label.display = name in errors
            self.query_one(f"#row-{name}").set_class(name in errors, "invalid")
        self.query_one("#problems", Static).update("\n".join(unowned))
        answers = validation.answers if validation.ok and not [p for p in problems if p.severity == "error"] else None
        fits = self._show_fit(answers)
        self.wizard.document = document
        self.wizard.answers = answers
        self.allow_next(answers is not None and fits)

    def _show_fit(self, answers: Any) -> bool:
        """Preflight's fit check for each chosen model; a model that cannot load blocks Next."""
        fit = self.query_one("#fit", Static)
        facts = self.wizard.facts
        if answers is None or facts is None:
            fit.update("Fits in memory: unknown until the settings are valid.")
            return True
        if not has_local_node(answers):
            fit.update("No node is this machine: the preflight phase checks the models against each GPU node.")
            return True
        lines = [
            f"{GLYPH[check.status]} {check.name}: {check.detail}"
            for check in fit_checks(facts, answers, self.wizard.manifest)
            if check.group == "models"
        ]
        fit.update("\n".join(lines) or "No model chosen.")
        failing = any(line.startswith(GLYPH[Status.FAIL]) for line in lines)
        fit.set_class(failing, "blocked")
        return not failing

    @on(Select.Changed, "#engine")
    def _engine_changed(self) -> None:
        self._fill_models(self._form())

    def go_next(self) -> None:
        from greenzone.tui.screens.review import ReviewScreen

        if self.wizard.answers is not None:
            self.app.push_screen(ReviewScreen())
