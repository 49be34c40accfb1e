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
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Footer, Header, Input, Label, Select, SelectionList, Static

from greenzone.answers.rules import Context, no_model_for_engine
from greenzone.install.session import has_local_node
from greenzone.preflight.rules import fit_checks
from greenzone.results import Status
from greenzone.tui.form import (
    FIELD_PATHS,
    Form,
    apply_form,
    field_of,
    form_from_document,
    in_form_terms,
    validate_document,
)
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.widgets import GLYPH, FieldInput, NavBar, TickBox, TickList

GiB = 2**30


def _row(label: str, widget: Widget) -> ComposeResult:
    """One field: its label, the widget (whose id is the form field's name) and its error line."""
    name = widget.id
    with Horizontal(classes="row", id=f"row-{name}"):
        yield Label(label, classes="field-label")
        yield widget
    yield Static("", id=f"{name}-error", classes="field-error")


def _text(form: Form, name: str, label: str, placeholder: str = "") -> ComposeResult:
    return _row(label, FieldInput(getattr(form, name), placeholder=placeholder, id=name))


def _choice(form: Form, name: str, label: str, options: list[tuple[str, str]]) -> ComposeResult:
    return _row(label, Select(options, value=getattr(form, name), allow_blank=False, id=name, compact=True))


def _value(widget: Widget) -> Any:
    """What a field holds, in the form's terms; every field of `Form` is one of these widgets."""
    if isinstance(widget, SelectionList):
        return tuple(widget.selected)
    if isinstance(widget, Select):
        return str(widget.value)
    if isinstance(widget, Input | Checkbox):
        return widget.value
    raise TypeError(f"no form value for {widget!r}")


class SettingsScreen(WizardScreen):
    STEP = "Step 3 of 6 · Settings"
    _models_engine = ""  # the engine the models list was filled for

    def __init__(self) -> None:
        super().__init__()
        self._touched: set[str] = set()
        self._reveal = False
        self._blocked: list[str] = []

    def why_blocked(self) -> str:
        self._reveal = True
        self.revalidate()
        if self._blocked:
            return f"Next waits for valid settings: {len(self._blocked)} field(s) marked ↳ need a change."
        return "Next waits for valid settings: a chosen model does not fit this machine's GPUs (see above)."

    def compose(self) -> ComposeResult:
        form = form_from_document(self.wizard.document)
        yield Header(show_clock=False)
        with VerticalScroll(id="body"):
            yield from _text(form, "appliance_name", "Appliance name")
            yield from _text(form, "hostname", "Host name", "ai.site.local")
            yield from _text(form, "advertise_ip", "Advertise IP", "default route's address")
            tls = [("self-signed CA", "self-signed"), ("provided certificate", "provided")]
            yield from _choice(form, "tls_mode", "Harbor TLS", tls)
            yield from _text(form, "cert_file", "  certificate", "/etc/ssl/site.pem")
            yield from _text(form, "key_file", "  private key", "/etc/ssl/site.key")
            yield from _choice(form, "engine", "Engine", [("Ollama", "ollama"), ("vLLM", "vllm")])
            yield from _row("Models", TickList(id="models", compact=True))
            yield from _text(form, "gpus_per_replica", "GPUs per replica")
            yield Static("", id="fit")
            yield from _text(form, "departments", "Departments", "none yet, e.g. legal:1:32Gi, hr:0:8Gi")
            yield from _choice(form, "egress", "Egress", [("deny (DNS only)", "deny"), ("allow-list", "allow-list")])
            yield from _text(form, "allow_cidrs", "  allowed CIDRs", "10.20.0.0/16")
            yield from _row(
                "Dashboards", TickBox("GPU and usage dashboards", form.monitoring, id="monitoring", compact=True)
            )
            yield Static("", id="problems")
        yield NavBar()
        yield Footer()

    def on_mount(self) -> None:
        self._fill_models(form_from_document(self.wizard.document))
        self.revalidate()
        self.query_one("#hostname", Input).focus()

    def _fill_models(self, form: Form) -> None:
        """The bundle's models for the chosen engine, and only those: a switch of engine replaces
        the list, keeping what was chosen when the other engine can serve it too."""
        models = self.query_one("#models", SelectionList)
        models.clear_options()
        engine = str(self.query_one("#engine", Select).value)
        self._models_engine = engine
        manifest = self.wizard.manifest
        offered = [model for model in (manifest.models if manifest else ()) if model.engine == engine]
        # Nothing chosen yet (a fresh wizard, or the engine just changed): start with the first model.
        chosen = set(form.models) & {model.name for model in offered} or {model.name for model in offered[:1]}
        for model in offered:
            label = f"{model.name}  ({model.vram_bytes / GiB:.1f} GiB VRAM)"
            models.add_option((label, model.name, model.name in chosen))

    def _form(self) -> Form:
        return Form(**{name: _value(self.query_one(f"#{name}")) for name in FIELD_PATHS})

    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Checkbox.Changed)
    def revalidate(self, event: Message | None = None) -> None:
        control = getattr(event, "control", None)
        if control is not None and control.id:
            self._touched.add(control.id)
        if str(self.query_one("#engine", Select).value) != self._models_engine:
            self._fill_models(self._form())  # before reading the form: its models must follow the engine
        form = self._form()
        for name in ("cert_file", "key_file"):
            self.query_one(f"#row-{name}").display = form.tls_mode == "provided"
        self.query_one("#row-allow_cidrs").display = form.egress == "allow-list"
        document, problems = apply_form(self.wizard.document, form)
        manifest, facts = self.wizard.manifest, self.wizard.facts
        # This machine's GPUs bound the quotas only when it is a node (this screen does not edit the nodes).
        local = has_local_node(self.wizard.answers)
        gpus = len(facts.nvml.gpus) if local and facts is not None and facts.nvml.state == "ok" else None
        context = Context(
            gpus_present=gpus,
            bundle_models=frozenset(model.name for model in manifest.models) if manifest else None,
            bundle_source=str(self.wizard.bundle or ""),
            model_engines={model.name: model.engine for model in manifest.models} if manifest else None,
        )
        validation = validate_document(document, context)
        problems = [*problems, *validation.problems]
        # With no model to offer, the answers fail on the empty list before any rule runs: say why.
        missing_engine = no_model_for_engine(form.engine, context)
        if missing_engine is not None and not form.models:
            problems = [missing_engine, *(p for p in problems if p.path[:2] != ("inference", "models"))]
        errors: dict[str, list[str]] = {}
        unowned = []
        for problem in problems:
            if problem.severity != "error" and problem.severity != "warning":
                continue
            message, hint = in_form_terms(problem.message, problem.hint, problem.path)
            text = f"{message} — {hint}" if hint else message
            owner = field_of(problem.path)
            if owner:
                errors.setdefault(owner, []).append(("" if problem.severity == "error" else "warning: ") + text)
            else:
                unowned.append(text)
        for name in FIELD_PATHS:
            # An empty field nobody has touched yet is not an error to shout about; pressing Next shows all.
            shown = name in errors and (self._reveal or name in self._touched or _value(self.query_one(f"#{name}")))
            label = self.query_one(f"#{name}-error", Static)
            label.update("\n".join(f"↳ {line}" for line in errors.get(name, [])) if shown else "")
            label.display = bool(shown)
            self.query_one(f"#row-{name}").set_class(bool(shown), "invalid")
        self._blocked = sorted({field_of(p.path) for p in problems if p.severity == "error"} - {""})
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

    def leave(self) -> bool:
        return self.wizard.answers is not None
