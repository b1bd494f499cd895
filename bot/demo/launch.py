"""Start the demo's world, play the tour or open the prompt, and take everything down."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.core.catalog import Catalog
from bot.db.engine import DatabaseError
from bot.demo.screen import Screen
from bot.demo.seed import TABLE
from bot.demo.stage import Stage, start_stage
from bot.demo.terminal import Terminal
from bot.demo.tour import Tour
from bot.demo.workspace import Workspace

WIDTH_WITHOUT_TERMINAL = 100


def make_console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:  # a transcript piped to a file or a test
        console = Console(highlight=False, width=WIDTH_WITHOUT_TERMINAL)
    return console


def run_demo(catalog: Catalog, runbooks_dir: Path, *, script: bool, keep: Path | None,
             console: Console, orders: int = 300) -> int:
    """The exit status: 0, or 1 when a step of the scripted tour did not happen."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        folder = keep.resolve()
    else:
        folder = Path(tempfile.mkdtemp(prefix="jitbot-demo-"))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    stage: Stage | None = None
    screen: Screen | None = None
    try:
        started = time.monotonic()
        try:
            with console.status("Starting moto, the fake Slack and jitbot..."):
                stage = start_stage(folder, catalog, runbooks_dir, orders=orders)
        except (DatabaseError, OSError) as exc:
            console.print(f"[red]error: the demo could not start: {escape(str(exc))}[/red]")
            return 2
        _banner(console, stage, folder, keep is not None, time.monotonic() - started)
        screen = Screen(stage.fake, console, viewer=lambda: people.user)
        people = Workspace(stage.fake, stage.slack, screen)
        screen.start()
        if script:
            return _tour(Tour(stage, people, console), console)
        terminal = Terminal(stage, people, console)
        terminal.help()
        terminal.run()
        return 0
    except KeyboardInterrupt:
        console.print("[dim]Interrupted.[/dim]")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if screen is not None:
            screen.stop()
        if stage is not None:
            stage.close()
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
            console.print("[dim]Stopped jitbot, the fake Slack and moto; removed "
                          f"{escape(str(folder))}.[/dim]")
        else:
            console.print(f"[dim]Stopped. The database (jitbot.db) and the bot's log "
                          f"(jitbot.log) are kept in {escape(str(folder))}.[/dim]")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _tour(tour: Tour, console: Console) -> int:
    failures = tour.run()
    total = len(tour.steps())
    if failures:
        console.print(f"[bold red]Tour failed: {len(failures)} of {total} steps did not "
                      "happen.[/bold red]")
        for failure in failures:
            console.print(f"[red]  {escape(failure)}[/red]")
        console.print(f"[dim]The bot's log: {escape(str(tour.stage.log_path))}[/dim]")
        return 1
    console.print(f"[bold green]Tour complete: all {total} steps happened.[/bold green]")
    return 0


def _banner(console: Console, stage: Stage, folder: Path, kept: bool, seconds: float) -> None:
    roles = ", ".join(arn.rsplit("/", 1)[-1] for arn in stage.aws.role_arns)
    where = "kept" if kept else "removed on exit"
    lines = [
        f"[bold]jitbot demo[/bold]: the real bot over HTTP, started in {seconds:.1f}s",
        f"  jitbot    {stage.url}/slack/events (also /healthz and /metrics)",
        f"  Slack     a local stand-in at {stage.fake.url}: #ops and #alerts-orders",
        f"  AWS       moto at {stage.aws.url}: table `{TABLE}` with {stage.aws.seeded} orders "
        "(made-up PII)",
        f"            and the IAM role {roles}",
        f"  state     SQLite in {escape(str(folder))} ({where})",
        f"  runbooks  {', '.join(stage.catalog.names)}",
    ]
    console.print(Panel("\n".join(lines), border_style="green"))
