"""The interactive demo: a prompt where you act as people of a Slack workspace.

    alice> /jit orders-lookup order_id=1001 reason="ticket 4411"
    alice> as bob
    bob> react :white_check_mark:
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.demo.stage import Stage
from bot.demo.workspace import DemoError, Workspace

QUIT = {"quit", "exit", ":q"}


class Terminal:
    def __init__(self, stage: Stage, workspace: Workspace, console: Console) -> None:
        self.stage = stage
        self.people = workspace
        self.console = console
        # each takes the rest of the line; what it returns is for the scripted tour
        self._verbs: dict[str, Callable[[str], object]] = {
            "as": self._as,
            "react": self.people.react,
            "click": self.people.click,
            "alert": self.people.alert,
            "submit": self.people.submit,
            "home": lambda rest: self.people.home(),
            "help": lambda rest: self.help(),
            "who": lambda rest: self.who(),
        }

    def run(self) -> None:
        """Read commands until `quit`, end of input or Ctrl-C."""
        typing = sys.stdin.isatty()
        if typing:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())
        self.people.echo_commands = False
        while True:
            prompt = f"[bold green]{escape(self.people.user_name)}>[/bold green] "
            try:
                line = self.console.input(prompt) if typing else input()
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return
            if not typing:  # commands from a pipe: show each as if it had been typed
                self.console.print(prompt + escape(line), emoji=False)
            if not self.handle(line):
                return

    def handle(self, line: str) -> bool:
        """Do one command; False when it was `quit`."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.lower() in QUIT:
            return False
        verb, _, rest = line.partition(" ")
        try:
            if verb == "/jit":
                self.people.command(rest.strip())
            elif verb.lower() in self._verbs:
                self._verbs[verb.lower()](rest.strip())
            else:
                raise DemoError(f"unknown command {verb!r}; type help for the list")
        except DemoError as exc:
            self.console.print(f"[yellow]{escape(str(exc))}[/yellow]")
            return True
        if not self.stage.settle():
            self.console.print("[dim](jitbot is still working; what it posts will appear as "
                               "it arrives)[/dim]")
        self.people.screen.catch_up()
        return True

    def _as(self, name: str) -> None:
        self.people.act_as(name)
        groups = ", ".join(self.people.groups_of(self.people.user)) or "no groups"
        self.console.print(f"[dim]You are now {self.people.user_name} ({groups}).[/dim]")

    def who(self) -> None:
        table = Table(title="People in this workspace", title_justify="left", box=None)
        table.add_column("name", style="bold")
        table.add_column("user id", style="dim")
        table.add_column("groups")
        for name, uid in sorted(self.people.people().items()):
            marker = " (you)" if uid == self.people.user else ""
            table.add_row(name + marker, uid, ", ".join(self.people.groups_of(uid)))
        self.console.print(table)

    def help(self) -> None:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        rows = [
            ("/jit <text>", "run /jit in #ops as the current person, e.g. "
             '/jit orders-lookup order_id=1001 reason="ticket 4411"; /jit help; /jit status'),
            ("as <name>", "act as someone else: alice (requester), bob and carol "
             "(@oncall-leads), dave (@dba), erin; `who` lists everyone"),
            ("react :emoji:", "react to the newest request card: :white_check_mark: approves, "
             ":x: denies"),
            ("click <label>", "click a button on the newest message that has it: Approve, Deny, "
             "Cancel, Run again, End session, or a runbook button under an alert"),
            ("alert <text>", "post into #alerts-orders as a monitoring app, e.g. "
             "alert order 1002 is stuck"),
            ("submit name=value ...", "fill in and send the modal jitbot opened "
             "(/jit <runbook> with parameters missing opens one)"),
            ("home", "open jitbot's App Home as the current person"),
            ("help, quit", "this list; stop everything (Ctrl-C and Ctrl-D too)"),
        ]
        for command, meaning in rows:
            table.add_row(escape(command), escape(meaning))
        self.console.print(table)
