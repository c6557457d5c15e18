"""Chat-group webhooks: one message, five documented JSON formats.

A person's profile may name chat webhooks (``{"kind", "url"}``): the robot URL of a group
in WeCom, DingTalk or Feishu, a Slack incoming webhook, or a Microsoft Teams workflow
webhook. :func:`chat_body` turns a :class:`Notice` (title, lines, link) into the JSON body
that service documents for a plain message; the outbox POSTs it as ``application/json``
(``gateway.notify.delivery``). The formats, from each vendor's documentation:

- **WeCom** (企业微信 group robot, "群机器人配置说明",
  https://developer.work.weixin.qq.com/document/path/91770): ``POST`` to
  ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`` the body
  ``{"msgtype": "text", "text": {"content": "…"}}`` (content at most 2048 bytes, UTF-8);
  the answer is ``{"errcode": 0, "errmsg": "ok"}`` when sent.
- **DingTalk** (钉钉 custom robot, "自定义机器人发送群消息" / message types,
  https://open.dingtalk.com/document/orgapp/custom-robot-access and
  https://open.dingtalk.com/document/orgapp/message-types-and-data-format): ``POST`` to
  ``https://oapi.dingtalk.com/robot/send?access_token=…`` the body
  ``{"msgtype": "markdown", "markdown": {"title": "…", "text": "…"}}`` (``title`` is what
  the conversation list shows); the answer carries ``errcode`` 0 when sent.
- **Feishu** (飞书 custom bot, "自定义机器人使用指南",
  https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): ``POST`` to
  ``https://open.feishu.cn/open-apis/bot/v2/hook/…`` the body
  ``{"msg_type": "text", "content": {"text": "…"}}``; the answer carries ``code`` 0 when
  sent.
- **Slack** (incoming webhooks, "Sending messages using incoming webhooks",
  https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks): ``POST`` to
  ``https://hooks.slack.com/services/…`` the body ``{"text": "…"}`` (``text`` is the
  message and the notification's fallback; ``mrkdwn`` formatting: ``*bold*``,
  ``<url|label>``).
- **Microsoft Teams** (incoming webhook / Workflows, "Create an Incoming Webhook" and
  "Send Adaptive Cards using an Incoming Webhook",
  https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook):
  the body ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": {"$schema":
  "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
  "version": "1.2", "body": [TextBlock, …]}}]}``.

Text is sent as text: nothing a person typed is interpreted as markup by us (Slack's
``&``, ``<``, ``>`` are escaped as its documentation asks; WeCom's and Feishu's ``text``
types do not render markup; DingTalk's markdown gets the characters that would make a
link or a heading escaped). A webhook URL carries its group's key: it is kept in the
outbox row's target, never in a log line or a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHAT_KINDS: tuple[str, ...] = ("wecom", "dingtalk", "feishu", "slack", "teams")
WECOM_MAX_BYTES = 2048


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification, before it takes a channel's form. Never holds a secret."""

    title: str
    lines: tuple[str, ...] = ()
    link: str | None = None
    ticket_id: int | None = None
    alarm_id: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        parts = [self.title, *self.lines]
        if self.link:
            parts.append(self.link)
        return "\n".join(parts)


def _clip_bytes(text: str, limit: int) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "..."


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _md_escape(text: str) -> str:
    out = text
    for ch in ("\\", "[", "]", "(", ")", "#", "*", "_", "`", ">"):
        out = out.replace(ch, "\\" + ch)
    return out


def chat_body(kind: str, n: Notice) -> dict[str, Any]:
    """The JSON body of ``n`` for a ``kind`` webhook (``ValueError`` for another kind)."""
    if kind == "wecom":
        return {"msgtype": "text", "text": {"content": _clip_bytes(n.text(), WECOM_MAX_BYTES)}}
    if kind == "dingtalk":
        lines = [f"#### {_md_escape(n.title)}", *(f"- {_md_escape(x)}" for x in n.lines)]
        if n.link:
            lines.append(f"[{_md_escape(n.link)}]({n.link})")
        return {"msgtype": "markdown", "markdown": {"title": n.title, "text": "\n\n".join(lines)}}
    if kind == "feishu":
        return {"msg_type": "text", "content": {"text": n.text()}}
    if kind == "slack":
        parts = [f"*{_slack_escape(n.title)}*", *(_slack_escape(x) for x in n.lines)]
        if n.link:
            parts.append(f"<{n.link}|{_slack_escape(n.link)}>")
        return {"text": "\n".join(parts)}
    if kind == "teams":
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": n.title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            }
        ]
        body += [{"type": "TextBlock", "text": x, "wrap": True} for x in n.lines]
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": body,
        }
        if n.link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": n.link}]
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": card,
                }
            ],
        }
    raise ValueError(f"unknown chat kind {kind!r} (kinds: {', '.join(CHAT_KINDS)})")


def answer_error(kind: str, status: int, payload: Any) -> str | None:
    """Why a chat service's answer means "not sent" (``None``: sent). WeCom and DingTalk
    answer 200 with ``errcode``, Feishu with ``code``; the others by status."""
    if not 200 <= status < 300:
        return f"HTTP {status}"
    if isinstance(payload, dict):
        if kind in ("wecom", "dingtalk") and payload.get("errcode", 0) not in (0, None):
            return f"errcode {payload.get('errcode')}: {str(payload.get('errmsg'))[:200]}"
        if kind == "feishu" and payload.get("code", 0) not in (0, None):
            return f"code {payload.get('code')}: {str(payload.get('msg'))[:200]}"
    return None
