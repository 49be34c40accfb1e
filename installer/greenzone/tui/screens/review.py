"""Review: the exact answer file the install will use, the plan, and "save to file".

The file is saved (0600: it may name secret files) before the install starts, and the install reads
that saved file, so the wizard and `greenzone install --answers FILE --yes` run the same thing and a
wizard install that was interrupted resumes from either.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, Static, TextArea

from greenzone.answers.dump import answers_yaml
from greenzone.atomic import write_text_atomic
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.summary import effective_choices
from greenzone.tui.widgets import FieldInput, NavBar


class ReviewScreen(WizardScreen):
    STEP = "Step 4 of 6 · Review"

    @property
    def saved_line(self) -> Static:
        return self.query_one("#saved", Static)

    def compose(self) -> ComposeResult:
        answers = self.wizard.answers
        assert answers is not None, "Settings lets no one here without valid answers"
        text = answers_yaml(answers)
        self.wizard.answers_text = text
        default = self.wizard.saved_to or self.session.state_dir.saved_answers
        check = self.session.check
        yield Header(show_clock=False)
        with VerticalScroll(id="body"):
            width = max(len(name) for name, _ in effective_choices(answers))
            yield Static(
                "\n".join(f"{name:<{width}}  {value}" for name, value in effective_choices(answers)),
                id="summary",
                markup=False,
            )
            yield Static("", id="plan")
            yield TextArea(text, read_only=True, id="answers-yaml", compact=True, show_line_numbers=False)
            with Horizontal(classes="row"):
                yield Label("Save to", classes="field-label")
                yield FieldInput(str(default), id="save-path")
            yield Static("", id="saved")
        yield NavBar(Button("Save", id="save"), next_label="Check ›" if check else "Install ›")
        yield Footer()

    def on_mount(self) -> None:
        self._show_plan()
        self.allow_next(True)
        self.query_one("#save", Button).focus()  # visible focus in the docked bar; Enter saves, Ctrl+N goes on

    def _show_plan(self) -> None:
        answers, bundle = self.wizard.answers, self.wizard.bundle
        assert answers is not None and bundle is not None
        prepared = self.session.prepare(answers, self._path(), bundle)
        todo = [view.phase.name for view in prepared.tracker.views if view.state != "skipped"]
        done = [view.phase.name for view in prepared.tracker.views if view.state == "skipped"]
        text = f"Plan for {len(answers.nodes)} node(s): {', '.join(todo) or 'nothing left to do'}."
        if done:
            text += f"\nDone earlier with these answers, skipped: {', '.join(done)}."
        if self.session.check:
            text += "\nCheck mode: Ansible predicts the changes and changes nothing."
        self.query_one("#plan", Static).update(text)

    def _path(self) -> Path:
        typed = self.query_one("#save-path", Input).value.strip()
        return Path(typed).expanduser().resolve() if typed else self.session.state_dir.saved_answers

    @on(Button.Pressed, "#save")
    @on(Input.Submitted, "#save-path")
    def save(self) -> bool:
        path = self._path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_text_atomic(path, self.wizard.answers_text, mode=0o600)
        except OSError as error:
            self.saved_line.update(f"✘ cannot write {path}: {error.strerror}; choose another place")
            return False
        self.wizard.saved_to = path
        self.saved_line.update(f"✔ saved to {path}; unattended: greenzone install --answers {path} --yes")
        return True

    def leave(self) -> bool:
        return self.save()
