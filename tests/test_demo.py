"""`jitbot demo`: the scripted tour end to end as a real process, the interactive prompt fed
from a pipe, and the pieces the demo is drawn with."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from bot.demo.blocks_text import blocks_to_renderable, buttons_of, mrkdwn_to_markup
from bot.demo.tour import raw_pii
from tests.support.slack import REPO, jitbot_command


def _demo_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment with no Slack, jitbot or AWS settings, and TMPDIR in
    tmp_path so the test can see what the demo leaves behind."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "JITBOT_", "AWS_"))}
    env.update({"TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1", "COLUMNS": "100",
                # a developer's own settings must not leak in: the demo overrides them
                "SLACK_APP_TOKEN": "xapp-must-not-be-used", "AWS_PROFILE": "must-not-be-used",
                "JITBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'not-the-demo.db'}"})
    return env


def _run(args: list[str], tmp_path: Path, cwd: Path, stdin: str | None = None,
         timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*jitbot_command(), "demo", *args], cwd=cwd, env=_demo_env(tmp_path),
                          input=stdin, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    home = tmp_path_factory.mktemp("demo-tour")
    work = home / "cwd"
    work.mkdir()
    return _run(["--script"], home, cwd=work), home


def test_the_scripted_tour_passes_every_step(
        tour: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = tour
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for line in [
        "Step 1/7: request",
        'alice> /jit orders-lookup order_id=1001 reason="ticket 4411"',
        "JIT request: orders-lookup",
        "[ Approve ]",
        "you cannot approve or deny your own request",
        "bob> reacted :white_check_mark:",
        "@bob approved",
        "Results of orders-lookup (run 1)",
        "ORDER#1001",
        "3 values redacted",
        "•••@example.org",
        "monitor (app)",
        "order 1002 is stuck",
        "ORDER#1002",
        "alice> clicked [End session]",
        "Session ended by @alice",
        "hash chain intact",
        "Tour complete: all 7 steps happened.",
    ]:
        assert line in out, line
    for step in ["request", "refused self-approval", "approval", "redacted results",
                 "alert button", "session end", "audit trail"]:
        assert f"✓ {step}" in out, step


def test_the_tour_shows_no_raw_pii_and_no_traceback(
        tour: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = tour
    for order_id in ("1001", "1002"):
        for raw in raw_pii(order_id):
            assert raw not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_tour_leaves_nothing_behind(
        tour: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, home = tour
    assert result.returncode == 0
    assert "removed" in result.stdout
    assert list((home / "cwd").iterdir()) == []  # no jitbot.db in the working directory
    assert [p.name for p in home.iterdir() if p.name.startswith("jitbot-demo-")] == []
    assert not (home / "not-the-demo.db").exists()


def test_the_prompt_takes_commands_from_a_pipe_and_keeps_what_it_is_told(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    commands = "\n".join([
        "help",
        "/jit help orders-lookup",
        'submit reason="no modal yet"',
        "as nobody",
        "as dave",
        "/jit orders-lookup order_id=1003 reason=\"late parcel\"",
        "click Approve",
        "frobnicate",
        "quit",
    ]) + "\n"
    result = _run(["--keep", str(kept)], tmp_path, cwd=tmp_path, stdin=commands, timeout=60)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "react :emoji:" in out  # the help table
    assert "order_id" in out and "1001" in out  # /jit help orders-lookup
    assert "no modal is open" in out
    assert "there is no 'nobody' here" in out
    # dave is not in @oncall: the request is refused, privately, with the reason
    assert "dave> /jit orders-lookup" in out
    assert "only visible to you (@dave)" in out
    assert "no message has a button 'Approve'" in out
    assert "unknown command 'frobnicate'" in out
    assert (kept / "jitbot.db").is_file() and (kept / "jitbot.log").is_file()
    assert "Traceback" not in out + result.stderr


def test_demo_without_its_extra_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['faker'] = None\n")
    env = _demo_env(tmp_path)
    env["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run([*jitbot_command(), "demo", "--script"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "pip install 'jitbot[demo]'" in result.stderr and "faker" in result.stderr


# ------------------------------------------------------------------ drawing Block Kit


def _plain(renderable: object) -> str:
    console = Console(width=100, no_color=True)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def test_mrkdwn_resolves_mentions_and_leaves_code_alone() -> None:
    names = {"U0BOB": "bob", "S0LEADS": "oncall-leads", "C0OPS": "ops"}
    text = ("*Requester:* <@U0BOB> asks <!subteam^S0LEADS|@oncall-leads> in <#C0OPS> "
            "by <!date^1700000000^{date_short}|Nov 14> `customer_email` ```a_b *c*```")
    shown = _plain(blocks_to_renderable([], text, names))
    assert "Requester: @bob asks @oncall-leads in #ops by Nov 14 customer_email a_b *c*" in shown
    assert "[bold]" in mrkdwn_to_markup("*x*") and "[italic]" in mrkdwn_to_markup("_y_")
    assert "[italic]" not in mrkdwn_to_markup("`customer_email and card_number`")


def test_cards_render_headers_fields_buttons_and_inputs() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "JIT request: x"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*a*"},
                                       {"type": "mrkdwn", "text": "b"}]},
        {"type": "actions", "block_id": "jit_actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Approve"},
             "action_id": "jit_approve", "value": "R1", "style": "primary"}]},
        {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
         "element": {"type": "plain_text_input", "action_id": "v", "initial_value": "t 1"}},
    ]
    shown = _plain(blocks_to_renderable(blocks))
    assert "JIT request: x" in shown and "a   b" in shown
    assert "[ Approve ]" in shown and "Reason: t 1" in shown
    assert [(b, e["action_id"]) for b, e in buttons_of(blocks)] == [("jit_actions", "jit_approve")]

