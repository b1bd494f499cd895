"""The Web API methods the fake Slack answers, with Slack's documented response shapes.

`WebApiMethods` holds one handler per method (`METHODS` maps the method names to them);
`FakeSlack` (bot/demo/fake_slack.py) is the HTTP server, the call log and the test
controls around them. A handler runs with the fake's lock held, reads and changes the
workspace's state (messages, views, files) and raises `SlackError` where Slack answers
`ok: false`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Who the bot is in the fake workspace
TEAM_ID = "T0JIT"
APP_ID = "A0JIT"
BOT_USER_ID = "U0JITBOT"
BOT_ID = "B0JITBOT"

_ID = re.compile(r"^[CGDUW][A-Z0-9_]+$")
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40000
_TS_COUNTER = itertools.count(1)


class SlackError(Exception):
    def __init__(self, error: str, status: int = 200):
        super().__init__(error)
        self.error = error
        self.status = status


class WebApiMethods:
    """The handlers; the state they work on is set up by FakeSlack._reset_state."""

    _cond: threading.Condition
    _messages: dict[str, dict[str, dict[str, Any]]]  # channel -> ts -> message
    _ephemerals: list[dict[str, Any]]
    _views: dict[str, dict[str, Any]]
    _home: dict[str, dict[str, Any]]
    _files: dict[str, dict[str, Any]]
    _counter: itertools.count[int]
    users: dict[str, str]
    usergroups: dict[str, list[str]]
    channels: dict[str, str]
    url: str  # the Web API base URL the server listens on

    @staticmethod
    def usergroup_id(handle: str) -> str:
        return "S0" + re.sub(r"[^A-Z0-9]", "", handle.lstrip("@").upper())


    def _next_ts(self) -> str:
        # never reset with the rest: a bot keeps its database across a test's reset, and
        # Slack never gives two messages of a channel the same ts
        return f"{int(time.time())}.{next(_TS_COUNTER) % 1_000_000:06d}"

    def _channel_id(self, channel: str) -> str:
        if channel.startswith("#"):
            for cid, name in self.channels.items():
                if name == channel[1:]:
                    return cid
            raise SlackError("channel_not_found")
        return channel

    def _known_channel(self, args: Mapping[str, Any], key: str = "channel") -> str:
        raw = str(args.get(key) or "")
        if not raw:
            raise SlackError("channel_not_found")
        cid = self._channel_id(raw)
        if cid.startswith(("U", "W")):
            return "D" + cid  # posting to a user id opens a DM with them
        if cid not in self.channels and not _ID.match(cid):
            raise SlackError("channel_not_found")
        return cid

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://jit-test.slack.com/", "team": "jit test",
                "user": "jitbot", "team_id": TEAM_ID, "user_id": BOT_USER_ID,
                "bot_id": BOT_ID, "is_enterprise_install": False}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(args)
        check_content(args)
        ts = self._next_ts()
        message = {"type": "message", "channel": cid, "ts": ts, "user": BOT_USER_ID,
                   "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
                   "text": args.get("text") or "", "blocks": args.get("blocks") or [],
                   "attachments": args.get("attachments") or []}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        self._messages.setdefault(cid, {})[ts] = message
        return {"ok": True, "channel": cid, "ts": ts, "message": json_copy(message)}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(args)
        ts = str(args.get("ts") or "")
        message = self._messages.get(cid, {}).get(ts)
        if message is None:
            raise SlackError("message_not_found")
        check_content(args)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key] or ([] if key != "text" else "")
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": cid, "ts": ts, "text": message["text"],
                "message": json_copy(message)}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(args)
        ts = str(args.get("ts") or "")
        if self._messages.get(cid, {}).pop(ts, None) is None:
            raise SlackError("message_not_found")
        return {"ok": True, "channel": cid, "ts": ts}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(args)
        user = str(args.get("user") or "")
        if not user:
            raise SlackError("user_not_found")
        check_content(args)
        ts = self._next_ts()
        self._ephemerals.append({"channel": cid, "user": user, "message_ts": ts,
                                 "text": args.get("text") or "",
                                 "blocks": args.get("blocks") or [],
                                 "thread_ts": args.get("thread_ts")})
        return {"ok": True, "message_ts": ts}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(args)
        ts = str(args.get("message_ts") or "")
        if ts not in self._messages.get(cid, {}):
            raise SlackError("message_not_found")
        return {"ok": True, "channel": cid,
                "permalink": f"https://jit-test.slack.com/archives/{cid}/p{ts.replace('.', '')}"}

    def _reaction_add(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = self._known_channel(args)
        message = self._messages.get(cid, {}).get(str(args.get("timestamp") or ""))
        if message is None:
            raise SlackError("message_not_found")
        name = str(args.get("name") or "")
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                break
        else:
            reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {"ok": True}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        uid = str(args.get("user") or "")
        name = self.users.get(uid)
        if name is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": {
            "id": uid, "team_id": TEAM_ID, "name": name, "real_name": name.title(),
            "deleted": False, "is_bot": uid == BOT_USER_ID, "tz": "Europe/London",
            "profile": {"display_name": name, "real_name": name.title()},
        }}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with_users = str(args.get("include_users", "")).lower() in ("true", "1")
        groups = []
        for handle, members in sorted(self.usergroups.items()):
            group: dict[str, Any] = {"id": self.usergroup_id(handle), "team_id": TEAM_ID,
                                     "handle": handle, "name": handle, "is_usergroup": True,
                                     "user_count": len(members)}
            if with_users:
                group["users"] = list(members)
            groups.append(group)
        return {"ok": True, "usergroups": groups}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = str(args.get("usergroup") or "")
        for handle, members in self.usergroups.items():
            if self.usergroup_id(handle) == wanted:
                return {"ok": True, "users": list(members)}
        raise SlackError("no_such_subteam")

    def _channel_object(self, cid: str) -> dict[str, Any]:
        private = cid.startswith("G")
        return {"id": cid, "name": self.channels[cid], "is_channel": not private,
                "is_group": private, "is_private": private, "is_member": True,
                "is_archived": False}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = str(args.get("channel") or "")
        if cid not in self.channels:
            raise SlackError("channel_not_found")
        return {"ok": True, "channel": self._channel_object(cid)}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channels": [self._channel_object(c) for c in sorted(self.channels)],
                "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """The whole thread, parent first, in one page; `metadata` only when asked for."""
        cid = self._known_channel(args)
        ts = str(args.get("ts") or "")
        stored = self._messages.get(cid, {})
        if ts not in stored:
            raise SlackError("thread_not_found")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
        thread = [{k: v for k, v in m.items() if with_metadata or k != "metadata"}
                  for m in by_ts(stored.values()) if ts in (m["ts"], m.get("thread_ts"))]
        return {"ok": True, "messages": json_copy(thread), "has_more": False,
                "response_metadata": {"next_cursor": ""}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = args.get("users")
        first = (users if isinstance(users, str) else ",".join(users or [])).split(",")[0]
        if not first:
            raise SlackError("users_list_not_supplied")
        return {"ok": True, "channel": {"id": "D" + first}}

    def _view_record(self, view: Any, **extra: Any) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            raise SlackError("invalid_arguments")
        view_id = f"V{next(self._counter):08d}"
        record = {**view, "id": view_id, "team_id": TEAM_ID, "app_id": APP_ID,
                  "bot_id": BOT_ID, "hash": f"{time.time():.6f}.{view_id}",
                  "state": {"values": {}}, **extra}
        return record

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            raise SlackError("invalid_trigger_id")
        record = self._view_record(args.get("view"), trigger_id=args["trigger_id"])
        self._views[record["id"]] = record
        return {"ok": True, "view": json_copy(record)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id") or "")
        if not user:
            raise SlackError("invalid_arguments")
        record = self._view_record(args.get("view"), user_id=user)
        self._home[user] = record
        self._views[record["id"]] = record
        return {"ok": True, "view": json_copy(record)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        external = args.get("external_id")
        old = next((v for v in self._views.values()
                    if v["id"] == view_id or (external and v.get("external_id") == external)),
                   None)
        if old is None:
            raise SlackError("not_found")
        record = self._view_record(args.get("view"))
        record["id"] = old["id"]
        self._views[old["id"]] = record
        return {"ok": True, "view": json_copy(record)}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        length = int(args.get("length") or 0)
        if not filename or length <= 0:
            raise SlackError("invalid_arguments")
        file_id = f"F{next(self._counter):08d}"
        self._files[file_id] = {"id": file_id, "filename": filename, "length": length,
                                "content": None, "completed": False}
        return {"ok": True, "upload_url": f"{self.url}upload/{file_id}", "file_id": file_id}

    def _upload(self, file_id: str, body: bytes) -> dict[str, Any]:
        with self._cond:
            record = self._files.get(file_id)
            if record is None:
                raise SlackError("file_not_found", 404)
            record["content"] = body
        return {"ok": True}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments")
        cid = self._known_channel(args, "channel_id") if args.get("channel_id") else None
        shared = []
        for item in items:
            record = self._files.get(str(item.get("id")))
            if record is None or record["content"] is None:
                raise SlackError("file_not_found")
            record.update(completed=True, title=item.get("title") or record["filename"],
                          channel=cid, thread_ts=args.get("thread_ts"),
                          initial_comment=args.get("initial_comment"))
            shared.append({"id": record["id"], "name": record["filename"],
                           "title": record["title"], "size": len(record["content"]),
                           "mimetype": "text/plain",
                           "url_private": f"https://files.jit-test.slack.com/{record['id']}",
                           "channels": [cid] if cid else [], "groups": [], "ims": []})
        if cid:
            ts = self._next_ts()
            message = {"type": "message", "subtype": "file_share", "channel": cid, "ts": ts,
                       "user": BOT_USER_ID, "bot_id": BOT_ID,
                       "text": args.get("initial_comment") or "", "files": shared}
            if args.get("thread_ts"):
                message["thread_ts"] = str(args["thread_ts"])
            self._messages.setdefault(cid, {})[ts] = message
        return {"ok": True, "files": shared}


METHODS: dict[str, Callable[[WebApiMethods, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": WebApiMethods._auth_test,
    "chat.postMessage": WebApiMethods._post_message,
    "chat.update": WebApiMethods._update,
    "chat.delete": WebApiMethods._delete,
    "chat.postEphemeral": WebApiMethods._post_ephemeral,
    "chat.getPermalink": WebApiMethods._permalink,
    "reactions.add": WebApiMethods._reaction_add,
    "users.info": WebApiMethods._user_info,
    "usergroups.list": WebApiMethods._usergroups_list,
    "usergroups.users.list": WebApiMethods._usergroup_users,
    "conversations.info": WebApiMethods._conversations_info,
    "conversations.list": WebApiMethods._conversations_list,
    "conversations.open": WebApiMethods._conversations_open,
    "conversations.replies": WebApiMethods._conversations_replies,
    "views.open": WebApiMethods._views_open,
    "views.publish": WebApiMethods._views_publish,
    "views.update": WebApiMethods._views_update,
    "files.getUploadURLExternal": WebApiMethods._upload_url,
    "files.completeUploadExternal": WebApiMethods._complete_upload,
}


def check_content(args: Mapping[str, Any]) -> None:
    """Slack's own limits, so an oversized card fails here as it would in Slack."""
    text, blocks = args.get("text"), args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if text and len(str(text)) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            raise SlackError("invalid_blocks")
        for block in blocks:
            section = (block.get("text") or {}) if isinstance(block, dict) else {}
            if len(section.get("text") or "") > MAX_SECTION_TEXT:
                raise SlackError("invalid_blocks")


def by_ts(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(messages, key=lambda m: float(m["ts"]))


def json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
