"""The chat webhooks' documented JSON bodies (see gateway/notify/chat.py for the sources)
and how their answers are read."""

from __future__ import annotations

import json

import pytest

from gateway.notify.chat import CHAT_KINDS, Notice, answer_error, chat_body

N = Notice(
    title="[sc01] New ticket 新工单 #7: cleaning: Lobby",
    lines=("Zone 区域: lobby", "Priority 优先级: medium · Status 状态: assigned"),
    link="https://sw.example/#/tickets/7",
    ticket_id=7,
)


def test_wecom_text() -> None:
    assert chat_body("wecom", N) == {"msgtype": "text", "text": {"content": N.text()}}
    long = Notice(title="工" * 2000)
    body = chat_body("wecom", long)
    assert len(body["text"]["content"].encode()) <= 2048


def test_dingtalk_markdown() -> None:
    body = chat_body("dingtalk", N)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == N.title
    assert body["markdown"]["text"].startswith("#### \\[sc01\\] New ticket")
    assert "(https://sw.example/#/tickets/7)" in body["markdown"]["text"]


def test_feishu_text() -> None:
    assert chat_body("feishu", N) == {"msg_type": "text", "content": {"text": N.text()}}


def test_slack_text_escaped() -> None:
    body = chat_body("slack", Notice(title="a <b> & c", lines=("x>y",)))
    assert body == {"text": "*a &lt;b&gt; &amp; c*\nx&gt;y"}
    assert set(chat_body("slack", N)) == {"text"}


def test_teams_adaptive_card() -> None:
    body = chat_body("teams", N)
    assert body["type"] == "message"
    [att] = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.2"
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": N.title,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
    }
    assert card["actions"][0]["url"] == N.link


def test_every_kind_is_json_and_others_are_refused() -> None:
    for kind in CHAT_KINDS:
        json.dumps(chat_body(kind, N), ensure_ascii=False)
    with pytest.raises(ValueError):
        chat_body("telegram", N)


def test_answers() -> None:
    assert answer_error("wecom", 200, {"errcode": 0, "errmsg": "ok"}) is None
    assert answer_error("wecom", 200, {"errcode": 93000, "errmsg": "invalid key"})
    assert answer_error("dingtalk", 200, {"errcode": 310000, "errmsg": "keywords not in"})
    assert answer_error("feishu", 200, {"code": 19021, "msg": "sign match fail"})
    assert answer_error("feishu", 200, {"StatusCode": 0, "code": 0}) is None
    assert answer_error("slack", 200, None) is None
    assert answer_error("teams", 500, None) == "HTTP 500"
