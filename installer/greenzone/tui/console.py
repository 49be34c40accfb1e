"""What both console front ends (the install wizard, the upgrade's screens) are: the stylesheet, a
driver that writes ASCII where the console cannot draw UTF-8, and SIGTERM/SIGHUP ending the app like
a confirmed quit."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from textual.driver import Driver


class ConsoleApp(App[int]):
    CSS_PATH = "app.tcss"

    def get_driver_class(self) -> type[Driver]:
        """The platform's driver; on a console that cannot draw UTF-8, one that writes ASCII."""
        from greenzone.tui.terminal import ascii_driver, limited

        driver = super().get_driver_class()
        return ascii_driver(driver) if limited() else driver

    def listen_for_signals(self) -> None:
        """SIGTERM (systemd, an operator's kill) and SIGHUP (the console's SSH session dropped) call
        `terminate`: a running flow is canceled at its next task first."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.terminate)

    def terminate(self) -> None:
        raise NotImplementedError
