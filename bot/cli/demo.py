"""`jitbot demo`: the whole product on this machine, with nothing to configure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

import bot
from bot.cli.common import fail
from bot.core.catalog import Catalog, CatalogError, load_catalog

# The demo's own needs, beyond the bot's: the `demo` extra (make demo installs it).
DEMO_MODULES = {"moto": "moto[server]", "flask": "moto[server]", "faker": "faker"}


def sample_runbooks() -> Path:
    """The sample runbooks the demo's table and role fit: the source tree's, else ./runbooks."""
    beside_package = Path(bot.__file__).resolve().parent.parent / "runbooks"
    return beside_package if beside_package.is_dir() else Path("runbooks")


def _catalog(folder: Path) -> Catalog:
    try:
        return load_catalog(folder)
    except CatalogError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise fail(f"{len(exc.problems)} problem(s) in the runbooks in {folder}") from None


def demo(
    script: bool = typer.Option(False, "--script",
                                help="Play the scripted tour, check every step and exit "
                                     "(non-zero naming the step that did not happen)."),
    keep: Path | None = typer.Option(None, "--keep", metavar="DIR", file_okay=False,
                                     help="Keep the database and the bot's log in DIR "
                                          "instead of a temporary folder removed on exit."),
    runbooks: Path | None = typer.Option(None, "--runbooks", metavar="DIR",
                                         help="Runbook folder (default: the sample runbooks)."),
) -> None:
    """Run jitbot locally: moto (DynamoDB + IAM), a stand-in Slack, SQLite and the real bot
    over HTTP. Act as Slack users at a prompt (`help` lists the commands)."""
    missing = sorted({extra for module, extra in DEMO_MODULES.items()
                      if importlib.util.find_spec(module) is None})
    if missing:
        raise fail(f"jitbot demo needs {' and '.join(missing)}; install them with "
                   "pip install 'jitbot[demo]' (make demo does it for you)", 2)
    from bot.demo.launch import make_console, run_demo

    folder = runbooks or sample_runbooks()
    catalog = _catalog(folder)
    status = run_demo(catalog, folder, script=script, keep=keep, console=make_console())
    raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
