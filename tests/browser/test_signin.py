"""People sign in to the pages as themselves, in Chromium against a real gateway (issue 9).

Each test's gateway (``runtime.people.users``) is given people with passwords; the page
signs in with the id and password form (a session cookie the page's script never sees,
the CSRF token sent on every change), shows the person's name, keys the view on the
person's role, and signs out again. Wrong passwords and the lock-out show their text in
both languages.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.live import LiveGateway, now_ms

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery 9"
OPERATOR = ("op-chen", "陈立华 Chen Lihua")
NETWORK_NOISE = "Failed to load resource"  # Chromium's console line for each 4xx answer


def _status(page: Any, path: str, method: str = "GET") -> int:
    """The HTTP status of a call made by the page's own script (its cookies, no header)."""
    return int(
        page.evaluate(
            "([p, m]) => fetch(p, {method: m, credentials: 'same-origin'}).then(r => r.status)",
            [path, method],
        )
    )


def _page_errors(p: Any) -> list[str]:
    return [e for e in p.errors if NETWORK_NOISE not in e]


def test_an_operator_signs_in_acknowledges_and_signs_out(
    gateway: LiveGateway, open_page: Any
) -> None:
    user, name = OPERATOR
    gateway.add_user(user, PASSWORD, roles="operator", name=name)
    p = open_page(gateway)
    page = p.page
    page.goto(gateway.base + "/")
    # the form asks for a person's id and password; a token is the fallback behind a switch
    page.wait_for_selector("form.signin-card #user")
    assert page.is_visible("#password") and not page.is_visible("#token")

    p.submit_password(user, PASSWORD)
    page.wait_for_selector(f".who[data-user='{user}']")
    assert page.inner_text(".who") == name
    assert page.get_attribute(".role", "data-role") == "operator"
    # the alarm stream runs on the cookie alone (no token in its address)
    page.wait_for_selector(".conn.c-live", state="attached", timeout=10_000)
    cookies = page.evaluate("document.cookie")
    assert "sitewatch_csrf=" in cookies and "sitewatch_session" not in cookies  # HttpOnly
    assert page.evaluate("sessionStorage.getItem('sitewatch.token')") is None

    # a reload keeps the person signed in; the CSRF token now comes from its cookie
    page.reload()
    page.wait_for_selector(f".who[data-user='{user}']")
    page.wait_for_selector(".conn.c-live", state="attached", timeout=10_000)

    gateway.publish(
        "fire", "fp-01", "event", {"ts": now_ms(), "type": "fire_alarm", "point": "L1-D03"}
    )
    row = page.wait_for_selector("tr.alarm-row[data-priority=critical]", timeout=5000)
    alarm_id = row.get_attribute("data-alarm-id")
    # the gateway refuses a change without the CSRF header, so the page's ack below sends it
    assert _status(page, f"/api/v1/alarms/{alarm_id}/ack", "POST") == 403
    page.click(f"tr.alarm-row[data-alarm-id='{alarm_id}'] [data-action=ack]")
    page.wait_for_selector(
        f"tr.alarm-row[data-alarm-id='{alarm_id}'][data-state=active_acked]", timeout=3000
    )
    stored = gateway.api("GET", f"/api/v1/alarms/{alarm_id}")
    assert stored["acked_by"] == user
    acks = [j for j in stored["journal"] if "ack" in j["action"]]
    assert acks, stored["journal"]
    assert acks[-1]["user"] == user
    assert acks[-1]["detail"]["by_name"] == name
    assert acks[-1]["detail"]["via"] == "session"
    # the page's journal names the person too
    page.click(f"tr.alarm-row[data-alarm-id='{alarm_id}'] td.col-msg")
    who = page.wait_for_selector(".detail.open .journal li .j-user:has-text('Chen Lihua')")
    assert who.inner_text() == name
    assert _page_errors(p) == [] and p.dialogs == []
    p.errors.clear()

    # sign out: the form is back, and the page's context is no longer signed in
    page.click("button.signout")
    page.wait_for_selector("form.signin-card #user")
    assert page.query_selector(".who") is None
    assert "sitewatch_csrf" not in page.evaluate("document.cookie")
    assert _status(page, "/api/v1/me") == 401
    assert _status(page, "/api/v1/alarms?limit=1") == 401
    page.reload()
    page.wait_for_selector("form.signin-card #user")
    assert _page_errors(p) == []


def _ticket(gw: LiveGateway, title: str, device: str, assignee: str) -> str:
    t = gw.api(
        "POST",
        "/api/v1/tickets",
        role="operator",
        body={"title": title, "category": "repair", "priority": "medium", "device": device},
    )
    if t.get("assignee") != assignee:
        gw.api(
            "POST",
            f"/api/v1/tickets/{t['id']}/transition",
            role="operator",
            body={"to": "assigned", "assignee": assignee},
        )
    return str(t["id"])


def test_a_technician_signs_in_on_a_phone_and_sees_only_their_tickets(
    gateway: LiveGateway, open_page: Any
) -> None:
    gateway.set_password("elec-sun", PASSWORD)  # 孙涛 Sun Tao, electrical crew (site file)
    mine = _ticket(gateway, "Office light flickers", "lt-office-01", "elec-sun")
    colleague = _ticket(gateway, "Lobby light out", "lt-lobby-01", "elec-wang")
    other_crew = _ticket(gateway, "Lobby fan-coil rattles", "fcu-lobby-01", "hvac-zhang")

    p = open_page(gateway, width=390, height=844, is_mobile=True, has_touch=True)
    p.sign_in_as("elec-sun", PASSWORD)
    page = p.page
    # a technician lands on their own list, with no "I am" picker: the gateway knows who
    page.wait_for_selector("section.tech[data-whose=mine]")
    card = f"article.tcard[data-ticket-id='{mine}']"
    page.wait_for_selector(card)
    assert page.query_selector("#tech-member") is None
    shown = page.eval_on_selector_all("article.tcard", "els => els.map(e => e.dataset.ticketId)")
    assert shown == [mine], (shown, colleague, other_crew)
    assert page.is_visible(".who") and page.inner_text(".who") == "孙涛 Sun Tao"
    assert page.get_attribute(".role", "data-role") == "technician"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll

    page.click(f"{card} [data-action=start]")
    page.wait_for_selector(f"{card}[data-status=in_progress]")
    got = gateway.api("GET", f"/api/v1/tickets/{mine}")
    assert got["status"] == "in_progress"
    assert got["journal"][-1]["user"] == "elec-sun", got["journal"][-1]
    assert _page_errors(p) == [] and p.dialogs == []


def test_a_wrong_password_says_so_in_both_languages_and_the_lock_out_shows_the_wait(
    gateway: LiveGateway, open_page: Any
) -> None:
    user, name = OPERATOR
    gateway.add_user(user, PASSWORD, roles="operator", name=name)
    p = open_page(gateway, width=1440, height=900, lang="en-GB")
    page = p.page
    page.goto(gateway.base + "/")
    page.wait_for_selector("form.signin-card #user")

    p.submit_password(user, "not the password")
    page.wait_for_selector(".form-error:has-text('Wrong user id or password.')")
    assert page.input_value("#password") == ""  # the wrong one is not kept
    # the switch says it again in Chinese; a new wrong try answers in Chinese
    page.select_option("select.lang", "zh-CN")
    page.wait_for_selector(".form-error:has-text('用户名或密码错误。')")
    page.evaluate("document.querySelector('.form-error').textContent = ''")
    p.submit_password(user, "still not it")
    page.wait_for_selector(".form-error:has-text('用户名或密码错误。')")
    assert page.query_selector(".who") is None

    # ten failures for the user (two above, eight here) lock it out: the page shows the wait
    for _ in range(8):
        assert gateway.login(user, "wrong again").status_code in (401, 429)
    p.submit_password(user, PASSWORD)  # even the right password waits
    page.wait_for_selector(".form-error:has-text('失败次数过多')")
    text = page.inner_text(".form-error")
    assert "分钟" in text, text  # the wait, in minutes (5 minutes by default)
    assert page.is_disabled("form.signin-card button[type=submit]")
    page.select_option("select.lang", "en")
    page.wait_for_selector(".form-error:has-text('Too many failed tries')")
    assert "min" in page.inner_text(".form-error")
    assert page.is_disabled("form.signin-card button[type=submit]")
    assert _page_errors(p) == [] and p.dialogs == []


def test_the_access_token_fallback_and_an_expired_session(
    gateway: LiveGateway, open_page: Any
) -> None:
    user, name = OPERATOR
    gateway.add_user(user, PASSWORD, roles="operator", name=name)
    p = open_page(gateway)
    page = p.page
    # a token that is no token: said so, and the form stays
    page.goto(gateway.base + "/")
    page.click("form.signin-card .signin-switch")
    page.fill("#token", "no-such-token")
    page.click("form.signin-card button[type=submit]")
    page.wait_for_selector(".form-error:has-text('This token is not valid.')")
    # a person signed in whose session ends on the gateway (disabled by an admin): the next
    # call's 401 brings the form back with a word about it
    page.click("form.signin-card .signin-switch")
    p.sign_in_as(user, PASSWORD)
    gateway.runtime.people.users.disable(user)
    page.evaluate("location.hash = '#/tickets'")
    page.wait_for_selector("form.signin-card #user", timeout=10_000)
    page.wait_for_selector(".form-error:has-text('You have been signed out.')")
    assert _status(page, "/api/v1/me") == 401
    p.submit_password(user, PASSWORD)
    page.wait_for_selector(".form-error:has-text('This account is disabled.')")
    assert page.query_selector(".who") is None
    assert _page_errors(p) == [] and p.dialogs == []


def test_a_crew_lead_hands_a_ticket_on_within_the_crew(
    gateway: LiveGateway, open_page: Any
) -> None:
    gateway.set_password("hvac-zhang", PASSWORD)  # 张伟 Zhang Wei, lead of the HVAC crew
    tid = _ticket(gateway, "Lobby fan-coil rattles", "fcu-lobby-01", "hvac-liu")
    crew = gateway.api("GET", f"/api/v1/tickets/{tid}")["crew"]
    p = open_page(gateway, width=1440, height=900)
    p.sign_in_as("hvac-zhang", PASSWORD, view="tickets")
    page = p.page
    assert page.inner_text(".role") == "Crew lead"
    page.click(f".card[data-ticket-id='{tid}']")
    page.click("dialog.modal [data-move=assigned]")
    page.wait_for_selector("dialog.modal #f-assignee")
    # only the members of the lead's own crew are offered
    offered = page.eval_on_selector_all(
        "#f-assignee option", "els => els.map(e => e.value).filter(Boolean)"
    )
    members = next(c for c in gateway.runtime.site.crews if c.id == crew).members
    assert sorted(offered) == sorted(m.id for m in members), offered
    page.select_option("#f-assignee", "hvac-li")
    page.click("dialog.modal button[type=submit]")
    page.wait_for_selector("dialog.modal", state="detached")
    got = gateway.wait_for(
        lambda: (t := gateway.api("GET", f"/api/v1/tickets/{tid}"))["assignee"] == "hvac-li" and t,
        what="the ticket handed to hvac-li",
    )
    assert got["journal"][-1]["user"] == "hvac-zhang"
    assert _page_errors(p) == [] and p.dialogs == []
