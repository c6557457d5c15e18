"""The pages' two languages without a browser: both catalogues (api/static/js/i18n/*.js)
hold the same keys with the same {placeholders}; every key the code asks for exists; no
user-visible text is written into the code paths; the default rule pack speaks both."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rules.lang import RuleError
from rules.pack import load_default_pack, load_pack
from rules.template import parse_template

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
JS = STATIC / "js"
LANGS = ("en", "zh-CN")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(lang: str) -> dict[str, Any]:
    """The catalogue's object: the text between the module's first `{` and last `}` is
    strict JSON (the file says so in its header)."""
    text = (JS / "i18n" / f"{lang}.js").read_text(encoding="utf-8")
    body = text[text.index("export default {") + len("export default ") : text.rindex("}") + 1]
    data = json.loads(body)
    assert isinstance(data, dict)
    return data


def forms(value: Any) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [value]


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, zh = (catalogue(lang) for lang in LANGS)
    assert sorted(set(en) - set(zh)) == [], "keys missing from zh-CN.js"
    assert sorted(set(zh) - set(en)) == [], "keys missing from en.js"
    for key in en:
        a, b = en[key], zh[key]
        assert type(a) is type(b), f"{key}: a text in one catalogue, plural forms in the other"
        for v in (a, b):
            if isinstance(v, dict):
                assert "other" in v and set(v) <= {"zero", "one", "two", "few", "many", "other"}
            assert all(isinstance(f, str) and f.strip() for f in forms(v)), key
        names = [{m for f in forms(v) for m in PLACEHOLDER.findall(f)} for v in (a, b)]
        assert names[0] == names[1], f"{key}: placeholders differ {names}"
        if isinstance(a, dict):
            assert "n" in names[0], f"{key}: plural forms need {{n}}"


def test_a_chinese_reader_meets_chinese() -> None:
    zh = catalogue("zh-CN")
    cjk = re.compile(r"[\u3400-\u9fff]")
    # texts that are the same in both languages: names, units and numbers
    same = {"lang.name", "shell.site", "ticket.score", "fig.pct", "systag.hvac"}
    for key, value in zh.items():
        if key in same or key.startswith(("age.", "dur.")):
            continue
        assert all(cjk.search(f) for f in forms(value)), f"zh-CN.js {key}: {value!r}"


# ---- what the code asks for ---------------------------------------------------------------


def code_files() -> list[Path]:
    return sorted(p for p in JS.glob("*.js"))


def test_every_key_the_code_asks_for_is_in_the_catalogues() -> None:
    en = catalogue("en")
    used: set[str] = set()
    prefixes: set[str] = set()
    groups: set[str] = set()
    for f in code_files():
        lines = f.read_text(encoding="utf-8").splitlines()
        text = "\n".join(ln for ln in lines if not ln.lstrip().startswith("//"))
        used |= set(re.findall(r"\b(?:t|tr)\(\"([\w.<>-]+)\"", text))
        prefixes |= set(re.findall(r"\b(?:t|tr)\(`([\w.]+)\$\{", text))
        groups |= set(re.findall(r"\btv\(\"(\w+)\"", text))
    assert len(used) > 200, "the key scan found too little: has the code changed shape?"
    assert sorted(used - set(en)) == []
    for prefix in prefixes:
        assert any(k.startswith(prefix) for k in en), prefix
    for group in groups:
        assert any(k.startswith(group + ".") for k in en), group


# A small JavaScript lexer: string and template literals, skipping comments and regular
# expressions, enough for this code base's style.
_REGEX_BEFORE = set("(,=:[!&|?{};+-*%<>~^") | {""}


def literals(src: str) -> list[tuple[int, str, str]]:
    """(line, kind, text) of each string literal; kind is '"', "'" or '`' (for templates,
    the text outside `${...}`)."""
    out: list[tuple[int, str, str]] = []
    i, n, prev = 0, len(src), ""
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            i = src.find("\n", i)
            i = n if i < 0 else i
            continue
        if src.startswith("/*", i):
            i = src.index("*/", i) + 2
            continue
        if c in "\"'":
            j = i + 1
            while src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append((src.count("\n", 0, i) + 1, c, src[i + 1 : j]))
            i, prev = j + 1, "x"
            continue
        if c == "`":
            j, depth, text = i + 1, 0, []
            while depth or src[j] != "`":
                if not depth and src.startswith("${", j):
                    depth, j = 1, j + 2
                    continue
                if depth:
                    depth += {"{": 1, "}": -1}.get(src[j], 0)
                else:
                    text.append(src[j])
                j += 2 if src[j] == "\\" else 1
            out.append((src.count("\n", 0, i) + 1, "`", "".join(text)))
            i, prev = j + 1, "x"
            continue
        if c == "/" and (
            prev in _REGEX_BEFORE or re.search(r"\breturn\s*$", src[max(0, i - 8) : i])
        ):
            j, cls = i + 1, False
            while cls or src[j] != "/":
                cls = (cls or src[j] == "[") and src[j] != "]"
                j += 2 if src[j] == "\\" else 1
            i, prev = j + 1, "x"
            continue
        if not c.isspace():
            prev = c
        i += 1
    return out


# words a person would read: two words of letters, a capitalised word, or any CJK
_WORDS = re.compile(r"[A-Za-z]{2,}[,.;:!?…]? +[A-Za-z]{2,}|^[A-Z][a-z]{2,}|[\u3400-\u9fff]")
# literals that are not text for people: element and attribute names, CSS classes, keys,
# API paths, event names, storage keys, MIME types, SVG paths
_NOT_TEXT = re.compile(
    r"^(?:[a-z][\w-]*(?:[ .:/-][a-z][\w-]*)*|[a-z0-9_\-\[\]=.,:#>*() ]+|[A-Z][a-z]+/[A-Z]\w+|"
    r"Key[A-Z]|Arrow\w+|Escape|Enter|Home|End|Bearer|Content-Type|Accept|Authorization)$"
)
# messages for programmers (thrown on a bug, never shown to a user)
_FOR_PROGRAMMERS = {("dom.js", "attribute  is not allowed")}


def test_no_text_for_people_is_written_in_the_code() -> None:
    found = []
    for f in code_files():
        for line, kind, text in literals(f.read_text(encoding="utf-8")):
            if (
                not text.strip()
                or _NOT_TEXT.match(text.strip())
                or (f.name, text) in _FOR_PROGRAMMERS
            ):
                continue
            if _WORDS.search(text):
                found.append(f"{f.name}:{line}: {kind}{text}{kind}")
    assert found == [], "texts outside the catalogues:\n" + "\n".join(found)


def test_the_lexer_finds_texts() -> None:
    src = 'h("p", null, "Sign in now"); const r = /"/; x(`${n} alarms in the zone`); // "no"\n'
    got = [t for _, _, t in literals(src)]
    assert got == ["p", "Sign in now", " alarms in the zone"]
    assert sum(bool(_WORDS.search(t)) for t in got) == 2


# ---- the rule pack in both languages -----------------------------------------------------


def test_the_default_pack_speaks_both_languages() -> None:
    pack = load_default_pack()
    cjk = re.compile(r"[\u3400-\u9fff]")
    for rule in pack:
        s = rule.spec
        for en, zh in (
            (s.message, s.message_zh),
            (s.action, s.action_zh),
            (s.cause, s.cause_zh),
            (s.consequence, s.consequence_zh),
        ):
            assert en and not cjk.search(en), (rule.id, en)
            assert cjk.search(zh), (rule.id, zh)
        assert rule.message_zh is not None
        # the Chinese message reads the same values as the English one
        assert parse_template(s.message_zh).names == parse_template(s.message).names, rule.id


ONE = """
version: 1
rules:
  - id: x.hot
    system: hvac
    priority: low
    when: zone_temp > 30
    message: {message}
    action: {action}
"""


def test_one_language_alone_stays_valid() -> None:
    spec = load_pack(ONE.format(message='"{device} hot"', action="Open a window.")).spec("x.hot")
    assert (spec.message, spec.message_zh, spec.action, spec.action_zh) == (
        "{device} hot",
        "",
        "Open a window.",
        "",
    )
    zh_only = load_pack(ONE.format(message='{zh: "{device} 过热"}', action="{zh: 开窗。}"))
    spec = zh_only.spec("x.hot")
    assert (spec.message, spec.message_zh, spec.action, spec.action_zh) == (
        "{device} 过热",
        "{device} 过热",
        "开窗。",
        "开窗。",
    )
    both = load_pack(
        ONE.format(
            message='{en: "{device} hot", zh: "{device} 过热"}',
            action="{en: Open a window., zh: 开窗。}",
        )
    )
    tpl = both.rule("x.hot").message_zh
    assert tpl is not None and tpl.render({"device": "fcu-1"}) == "fcu-1 过热"


@pytest.mark.parametrize(
    ("message", "action", "error"),
    [
        ('{fr: "{device} chaud"}', "Open.", "unknown language 'fr'"),
        ("{}", "Open.", "a text, or {en: ..., zh: ...}"),
        ('{en: "{device} hot", zh: "{nope} 过热"}', "Open.", "unknown name {nope}"),
        ('"{device} hot"', "{en: [1, 2]}", "action: a text"),
    ],
)
def test_a_bad_bilingual_text_is_an_error_with_its_line(
    message: str, action: str, error: str
) -> None:
    with pytest.raises(RuleError) as exc:
        load_pack(ONE.format(message=message, action=action))
    assert error in str(exc.value) and "<text>:" in str(exc.value)
