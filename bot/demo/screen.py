"""The demo's window onto Slack: everything the bot sends the fake Slack, drawn as it arrives.

A background thread follows the fake's call log. Messages, card updates, files, modals and
App Home views are drawn with rich; ephemeral messages are drawn for the person the demo
is acting as (others get a one-line note, as they would see nothing); lookups the bot makes
(users, groups, channels) are not drawn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from bot.demo.blocks_text import blocks_to_renderable, message_panel, mrkdwn_to_markup
from bot.demo.fake_slack import Call, FakeSlack

FILE_PREVIEW_LINES = 6
_SILENT = {"auth.test", "users.info", "usergroups.list", "usergroups.users.list",
           "conversations.info", "conversations.list", "conversations.open",
           "chat.getPermalink", "files.getUploadURLExternal", "upload"}


class Screen:
    def __init__(self, fake: FakeSlack, console: Console, viewer: Callable[[], str]) -> None:
        self.fake = fake
        self.console = console
        self.viewer = viewer  # the user id the demo is acting as now
        self._drawn = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="demo-screen", daemon=True)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Screen:
        self._drawn = len(self.fake.calls())
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def catch_up(self, timeout: float = 5.0) -> None:
        """Return once every call the fake has received so far is on the screen."""
        target = len(self.fake.calls())
        with self._cond:
            self._cond.wait_for(lambda: self._drawn >= target, timeout)

    def _follow(self) -> None:
        while not self._stop.is_set():
            new = self.fake.calls_after(self._drawn, timeout=0.2)
            for call in new:
                try:
                    self.draw(call)
                except Exception as exc:  # a drawing bug must not stop the demo
                    self.console.print(f"[red](could not draw {call.method}: {exc})[/red]")
            with self._cond:
                self._drawn += len(new)
                self._cond.notify_all()

    # ------------------------------------------------------------ names

    @property
    def names(self) -> dict[str, str]:
        """User, user group and channel ids to the names people know them by."""
        names = dict(self.fake.users)
        names.update({self.fake.usergroup_id(handle): handle for handle in self.fake.usergroups})
        names.update(self.fake.channels)
        return names

    def where(self, channel: str, thread_ts: str | None = None) -> str:
        if channel.startswith("D") and channel[1:] in self.fake.users:
            place = f"DM with @{self.fake.users[channel[1:]]}"
        else:
            place = "#" + self.fake.channels.get(channel, channel)
        return f"{place} · thread" if thread_ts else place

    def user(self, user_id: str) -> str:
        return "@" + self.fake.users.get(user_id, user_id)

    # ------------------------------------------------------------ what people do

    def action(self, user_id: str, what: str) -> None:
        """Echo something a person did in Slack, as a transcript line (after whatever the
        bot had sent until now, so the transcript keeps Slack's order)."""
        self.catch_up()
        self.console.print(Text.assemble((f"{self.fake.users.get(user_id, user_id)}> ",
                                          "bold green"), what))

    def note(self, markup: str) -> None:
        self.console.print(f"[dim]{markup}[/dim]")

    def posted_by_someone(self, message: dict[str, Any], author: str) -> None:
        self.catch_up()
        self.console.print(message_panel(message, f"{self.where(message['channel'])} · {author}",
                                         self.names, border_style="yellow"))

    def private_reply(self, user_id: str, body: dict[str, Any], why: str) -> None:
        """What the bot answered in the HTTP response itself (only `user_id` sees it)."""
        if not body.get("text") and not body.get("blocks"):
            return
        self._private(user_id, body, why)

    # ------------------------------------------------------------ what the bot does

    def draw(self, call: Call) -> None:
        if call.method in _SILENT:
            return
        if not call.ok:
            error = call.response.get("error", call.status)
            self.note(f"(Slack answered jitbot's {escape(call.method)} with {escape(str(error))};"
                      " its client retries what can be retried)")
            return
        args = call.args
        if call.method == "chat.postMessage":
            title = f"{self.where(args['channel'], args.get('thread_ts'))} · jitbot"
            self._show(message_panel(args, title, self.names), args.get("thread_ts"))
        elif call.method == "chat.update":
            self._show(self._update(args), self._thread_of(args))
        elif call.method == "chat.postEphemeral":
            self._private(str(args.get("user")), args, self.where(args["channel"]))
        elif call.method == "chat.delete":
            self.note(f"(jitbot deleted a message in {self.where(args['channel'])})")
        elif call.method == "response":
            user = call.path.rstrip("/").rsplit("/", 1)[-1].removeprefix("cmd-")
            if args.get("response_type") == "in_channel":
                self._show(message_panel(args, "jitbot", self.names), None)
            else:
                self._private(user, args, "reply to the command")
        elif call.method == "reactions.add":
            self.note(f"jitbot reacted :{escape(str(args.get('name')))}: in "
                      f"{self.where(args['channel'])}")
        elif call.method == "files.completeUploadExternal":
            self._show(self._files(args), args.get("thread_ts"))
        elif call.method in ("views.open", "views.update"):
            view = args.get("view") or {}
            title = ((view.get("title") or {}).get("text")) or "modal"
            self.console.print(Panel(
                blocks_to_renderable(view.get("blocks") or [], "", self.names),
                title=f"modal: {escape(title)}", subtitle="fill it with: submit name=value ...",
                title_align="left", border_style="cyan"))
        elif call.method == "views.publish":
            user = str(args.get("user_id"))
            if user == self.viewer():
                view = args.get("view") or {}
                self.console.print(Panel(
                    blocks_to_renderable(view.get("blocks") or [], "", self.names),
                    title=f"App Home of {self.user(user)}", title_align="left",
                    border_style="cyan"))
            else:
                self.note(f"(jitbot refreshed the App Home of {self.user(user)})")
        else:
            self.note(f"(jitbot called {escape(call.method)})")

    def _show(self, renderable: RenderableType, thread_ts: str | None) -> None:
        self.console.print(Padding(renderable, (0, 0, 0, 4)) if thread_ts else renderable)

    def _private(self, user_id: str, body: dict[str, Any], where: str) -> None:
        if user_id != self.viewer():
            self.note(f"(jitbot showed {self.user(user_id)} a message only they can see; "
                      f"`as {self.fake.users.get(user_id, user_id)}` to act as them)")
            return
        self.console.print(message_panel(
            body, f"{where} · only visible to you ({self.user(user_id)})", self.names,
            border_style="bright_black"))

    def _thread_of(self, args: dict[str, Any]) -> str | None:
        try:
            return self.fake.message(str(args["channel"]), str(args["ts"])).get("thread_ts")
        except KeyError:
            return None

    def _update(self, args: dict[str, Any]) -> Panel:
        """A card update: only what changes (its state, notes and buttons) is drawn again."""
        blocks = args.get("blocks") or []
        dividers = [i for i, block in enumerate(blocks) if block.get("type") == "divider"]
        header = next((b for b in blocks if b.get("type") == "header"), None)
        name = (header or {}).get("text", {}).get("text", "the message")
        shown = blocks[dividers[-1] + 1:] if dividers else blocks
        title = f"{self.where(args['channel'])} · jitbot updated {escape(name)}"
        return Panel(blocks_to_renderable(shown, args.get("text", ""), self.names),
                     title=title, title_align="left", border_style="blue")

    def _files(self, args: dict[str, Any]) -> Panel:
        stored = {f["id"]: f for f in self.fake.files()}
        parts: list[RenderableType] = []
        if args.get("initial_comment"):
            parts.append(Text.from_markup(mrkdwn_to_markup(str(args["initial_comment"]),
                                                           self.names)))
        for item in args.get("files") or []:
            record = stored.get(str(item.get("id")), {})
            content = (record.get("content") or b"").decode("utf-8", errors="replace")
            lines = content.splitlines()
            parts.append(Text.from_markup(
                f"📎 [bold]{escape(str(record.get('filename', '?')))}[/bold] "
                f"[dim]({len(content.encode())} bytes, {len(lines)} lines)[/dim]"))
            preview = "\n".join(line[:160] for line in lines[:FILE_PREVIEW_LINES])
            parts.append(Text(preview, style="cyan"))
            if len(lines) > FILE_PREVIEW_LINES:
                parts.append(Text(f"… {len(lines) - FILE_PREVIEW_LINES} more lines",
                                  style="dim"))
        title = f"{self.where(str(args.get('channel_id', '')), args.get('thread_ts'))} · " \
                "jitbot uploaded a file"
        return Panel(Group(*parts), title=title, title_align="left", border_style="magenta")
