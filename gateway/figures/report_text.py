"""The monthly report's words in English and Simplified Chinese (one catalogue each), and
the Chinese of the report's own notes (the energy section's). The figures' notes, names
and definitions come from the scorecard in the site's language already
(``gateway.figures.scorecard.Value.note_in``)."""

from __future__ import annotations

from gateway.figures.scorecard import NO_ANSWER, NO_STORE

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Monthly report",
        "site": "Site",
        "month": "Month",
        "span": "Period (site time)",
        "scorecard": "Scorecard",
        "figure": "Figure",
        "baseline": "Baseline",
        "now": "This month",
        "target": "Target",
        "unit": "Unit",
        "trend": "Last 12 months",
        "definition": "Definition",
        "dimension": "Dimension (weight)",
        "energy": "Energy",
        "by_zone": "By zone",
        "by_system": "By system",
        "total": "Total",
        "key": "Name",
        "kwh": "kWh",
        "worst_devices": "Devices with the most alarms and tickets",
        "worst_zones": "Zones with the most alarms and tickets",
        "device": "Device",
        "zone": "Zone",
        "alarms": "Alarms",
        "tickets": "Tickets",
        "breaches": "Service levels missed",
        "ticket": "Ticket",
        "crew": "Crew",
        "priority": "Priority",
        "created": "Opened",
        "clocks": "Clocks missed",
        "cause": "Causes recorded",
        "none": "None.",
        "no_value": "no value",
        "unassigned": "no one was assigned in time",
        "no_cause": "no cause recorded",
        "footer": "sitewatch: figures computed from the state store and the time-series store.",
        "clock.assign": "assign",
        "clock.respond": "respond",
        "clock.resolve": "resolve",
        "clock.callback": "follow-up call",
        "clock.reply": "reply",
    },
    "zh": {
        "title": "月度报告",
        "site": "项目",
        "month": "月份",
        "span": "统计期间(项目当地时间)",
        "scorecard": "绩效指标",
        "figure": "指标",
        "baseline": "基准",
        "now": "本月",
        "target": "目标",
        "unit": "单位",
        "trend": "近12个月",
        "definition": "定义",
        "dimension": "评估维度(权重)",
        "energy": "能耗",
        "by_zone": "按区域",
        "by_system": "按系统",
        "total": "合计",
        "key": "名称",
        "kwh": "千瓦时",
        "worst_devices": "报警和工单最多的设备",
        "worst_zones": "报警和工单最多的区域",
        "device": "设备",
        "zone": "区域",
        "alarms": "报警",
        "tickets": "工单",
        "breaches": "未达服务时限的工单",
        "ticket": "工单",
        "crew": "班组",
        "priority": "优先级",
        "created": "创建时间",
        "clocks": "超时环节",
        "cause": "记录的原因",
        "none": "无。",
        "no_value": "无数据",
        "unassigned": "未能及时派单",
        "no_cause": "未记录原因",
        "footer": "sitewatch:指标由状态库和时序库数据计算得出。",
        "clock.assign": "派单",
        "clock.respond": "响应",
        "clock.resolve": "解决",
        "clock.callback": "回访",
        "clock.reply": "答复",
    },
}

SYSTEM_ZH = {"lighting": "照明", "hvac": "暖通空调", "access": "门禁", "fire": "消防"}
PRIORITY_ZH = {"critical": "紧急", "high": "高", "medium": "中", "low": "低"}

#: the report's own notes (the figures' notes come in the site's language already)
NOTES_ZH: dict[str, str] = {
    NO_STORE[0]: NO_STORE[1],
    "no power readings in the month": "本月没有功率读数",
}


def note(text: str | None, lang: str) -> str:
    if not text:
        return ""
    if lang != "zh":
        return text
    if text.startswith(NO_ANSWER[0] + ": "):
        return f"{NO_ANSWER[1]}:{text[len(NO_ANSWER[0]) + 2 :]}"
    return NOTES_ZH.get(text, text)
