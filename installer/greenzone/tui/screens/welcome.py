"""Welcome: which product and bundle this is, and the bundle's verification with a progress bar.

Nothing goes further than this screen with a bundle that does not verify: every later step trusts
the bundle's manifest (checksums, model sizes) and its files.
"""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, ProgressBar, Static

from greenzone import __version__
from greenzone.errors import GreenzoneError
from greenzone.results import Report, Status
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.widgets import GLYPH, FieldInput, NavBar

if TYPE_CHECKING:
    from greenzone.bundle.manifest import Manifest

REFRESH_SECONDS = 0.1


def _date(created: str) -> str:
    """`2026-11-01T09:00:00+00:00` as `2026-11-01 09:00 UTC`; anything else as it is."""
    try:
        moment = datetime.datetime.fromisoformat(created)
    except ValueError:
        return created or "no date"
    if moment.utcoffset() is not None:
        moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo else "")


def guess_key(bundle: Path) -> Path | None:
    """The vendor's key where `bundle pack` and the drive's layout put it: `<bundle>.pub` beside the
    bundle directory (never inside it: a key carried by the bundle would vouch for itself)."""
    candidate = bundle.with_name(bundle.name + ".pub")
    return candidate if bundle.name and candidate.is_file() else None


def _size(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


class _Throttle:
    """Hashing threads report every MiB; the screen needs a redraw only ten times a second."""

    def __init__(self) -> None:
        self.pending, self.last = 0, 0.0
        self.lock = threading.Lock()

    def add(self, size: int) -> int:
        with self.lock:
            self.pending += size
            now = time.monotonic()
            if now - self.last < REFRESH_SECONDS:
                return 0
            self.last, size, self.pending = now, self.pending, 0
            return size


class WelcomeScreen(WizardScreen):
    STEP = "Step 1 of 6 · Bundle"

    def why_blocked(self) -> str:
        return "Next waits until the bundle verifies: give its directory and the vendor's public key, then Verify."

    @property
    def bundle_input(self) -> Input:
        return self.query_one("#bundle", Input)

    @property
    def verify_bar(self) -> ProgressBar:
        return self.query_one("#verify-progress", ProgressBar)

    @property
    def verify_result(self) -> Static:
        return self.query_one("#verify-result", Static)

    def compose(self) -> ComposeResult:
        wizard = self.wizard
        yield Header(show_clock=False)
        with VerticalScroll(id="body"):
            yield Static(
                f"[b]Greenzone {__version__}[/b] turns this server into a private AI node that never sends "
                "data to a public AI service. Everything it installs comes from the signed bundle below.",
                id="intro",
            )
            if self.wizard_app.check:
                yield Static("[b]Check mode[/b]: the install only predicts; nothing will be changed.", id="check-mode")
            yield Label("Bundle directory")
            yield FieldInput(
                str(wizard.bundle or ""),
                placeholder="e.g. /media/usb/greenzone-bundle (empty: this directory)",
                id="bundle",
            )
            yield Label("Vendor public key")
            yield FieldInput(
                str(wizard.public_key or ""), placeholder="e.g. /media/usb/greenzone-bundle.pub", id="public-key"
            )
            yield Static("", id="bundle-info")
            yield ProgressBar(total=None, show_eta=False, id="verify-progress")
            yield Static("Verification has not run yet.", id="verify-result")
        yield NavBar(Button("Verify", id="verify"), back=False)
        yield Footer()

    def on_mount(self) -> None:
        self.verify_bar.display = self.wizard.verified is not None
        if self.wizard.bundle_ok:
            self._show_report(self.wizard.verified)
        elif self.wizard.bundle and self.wizard.public_key:
            self.call_after_refresh(self.start_verify)  # the screen first: verifying loads the session
        else:
            self.bundle_input.focus()

    @on(Button.Pressed, "#verify")
    @on(Input.Submitted)
    def start_verify(self) -> None:
        typed = self.bundle_input.value.strip()
        bundle = Path(typed).expanduser() if typed else Path.cwd()  # empty: the directory it was started in
        key_input = self.query_one("#public-key", Input)
        if not key_input.value.strip() and (guessed := guess_key(bundle.resolve())) is not None:
            key_input.value = str(guessed)
        key = Path(key_input.value.strip()).expanduser()
        self.allow_next(False)
        self.wizard.verified = None
        result = self.verify_result
        self._unverified()
        if not key.name:
            result.update(
                "Give the vendor's public key (the .pub file that came with the bundle, apart from the drive "
                "when the vendor sent it separately)."
            )
            return
        if not key.is_file():
            result.update(f"✘ {key} is not a file\nfix: give the vendor's public key file, e.g. {bundle}.pub")
            return
        try:
            manifest = self.session.manifest(bundle.resolve())
        except GreenzoneError as error:
            result.update(f"✘ {error.title}\nfix: {error.hint}")
            return
        self.wizard.bundle, self.wizard.public_key, self.wizard.manifest = bundle.resolve(), key.resolve(), manifest
        self.wizard.document["bundle"] = {"path": str(bundle.resolve()), "public_key": str(key.resolve())}
        self._show_info(manifest, verified=False)
        result.update("Verifying: checking the signature and hashing every file…")
        self.verify_bar.display = True
        self._verify(bundle.resolve(), key.resolve())

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def _verify(self, bundle: Path, key: Path) -> None:
        bar = self.verify_bar
        throttle = _Throttle()

        def advance(size: int) -> None:
            ready = throttle.add(size)
            if ready:
                self.app.call_from_thread(bar.advance, ready)

        try:
            report = self.session.verify(
                bundle,
                key,
                on_total=lambda total: self.app.call_from_thread(bar.update, total=total),
                on_advance=advance,
            )
        except GreenzoneError as error:
            self.app.call_from_thread(self._unverified)
            self.app.call_from_thread(self.verify_result.update, f"✘ {error.title}\nfix: {error.hint}")
            return
        self.app.call_from_thread(self._verified, report)

    def _show_info(self, manifest: Manifest, *, verified: bool) -> None:
        models = ", ".join(model.name for model in manifest.models) or "none"
        self.query_one("#bundle-info", Static).update(
            f"Bundle {manifest.product_version} ({_date(manifest.created)})"
            + ("" if verified else ", not verified yet")
            + f": {len(manifest.components)} components, {len(manifest.images)} images, models: {models}; "
            f"{_size(sum(item.size for item in manifest.files))}"
        )

    def _unverified(self) -> None:
        """No bar left spinning or full, no version claimed, for a bundle that has not verified."""
        self.verify_bar.display = False
        self.verify_bar.update(total=None, progress=0)
        self.query_one("#bundle-info", Static).update("")

    def _verified(self, report: Report) -> None:
        bar = self.verify_bar
        bar.update(total=bar.total or 1, progress=bar.total or 1)
        self.wizard.verified = report
        self._show_report(report)

    def _show_report(self, report: Report | None) -> None:
        if report is None:
            return
        failed = [check for check in report.checks if check.status is Status.FAIL]
        result = self.verify_result
        if failed:
            lines = [
                f"{GLYPH[Status.FAIL]} {check.name}: {check.detail}\n    fix: {check.remedy}" for check in failed[:6]
            ]
            more = f"\n… and {len(failed) - 6} more" if len(failed) > 6 else ""
            result.update("The bundle does not verify; nothing can be installed from it.\n" + "\n".join(lines) + more)
            self._unverified()  # what its manifest claims (a version, a size) is not to be believed
            self.allow_next(False)
            return
        if self.wizard.manifest is not None:
            self._show_info(self.wizard.manifest, verified=True)
        result.update(f"{GLYPH[Status.PASS]} the signature is valid and every file matches the signed manifest.")
        self.allow_next(True)
        self.next_button.focus()
