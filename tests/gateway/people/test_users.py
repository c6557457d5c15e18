"""Users: from the site file, added by an admin, changed, disabled; the first-run admin."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.errors import Conflict, Invalid, NotFound
from gateway.people import LoginFailed, LoginFailure, LoginOk, People, site_people
from gateway.site import Site, load_site
from gateway.store import models as m
from rules.vocab import Role


def _site(**over: object) -> Site:
    data = load_site().model_dump()
    data.update(over)
    return Site.model_validate(data)


def test_sync_from_demo_site(people: People) -> None:
    site = load_site()
    users = {u.id: u for u in people.users.list()}
    members = {mb.id for c in site.crews for mb in c.members}
    leads = {c.lead for c in site.crews if c.lead}
    assert members and leads <= members
    assert set(users) == members
    for uid in members:
        u = users[uid]
        assert Role.TECHNICIAN in u.roles
        assert (Role.LEAD in u.roles) == (uid in leads)
        assert u.active and not u.has_password and u.granted_roles == ()
    zhang, liu = users["hvac-zhang"], users["hvac-liu"]
    assert zhang.roles == (Role.TECHNICIAN, Role.LEAD) and zhang.crew == "hvac"
    assert liu.roles == (Role.TECHNICIAN,) and liu.name == "刘洋 Liu Yang"
    assert users["sec-chen"].crew == "security"
    # the demo's site manager is a name, not a member id: nobody becomes manager
    assert not any(Role.MANAGER in u.roles for u in users.values())


def test_sync_is_idempotent_and_keeps_passwords(people: People, clock: ManualClock) -> None:
    people.users.set_password("hvac-liu", "correct horse battery")
    people.users.update("hvac-liu", roles=["operator"])
    before = people.users.get("hvac-liu")
    clock.advance(60)
    report = people.users.sync_from_site(load_site())
    assert not report.changed
    after = people.users.get("hvac-liu")
    assert after == before and after.has_password
    assert after.roles == (Role.OPERATOR, Role.TECHNICIAN)
    assert people.login.authenticate("hvac-liu", "correct horse battery", "10.0.0.1").ok


def test_sync_follows_the_site_file(people: People, clock: ManualClock) -> None:
    site = load_site()
    people.users.set_password("hvac-li", "correct horse battery")
    crews = [c.model_dump() for c in site.crews]
    hvac = next(c for c in crews if c["id"] == "hvac")
    hvac["lead"] = "hvac-liu"  # a new lead
    hvac["members"] = [mb for mb in hvac["members"] if mb["id"] != "hvac-li"]
    hvac["on_call"] = "hvac-liu"
    changed = _site(crews=crews, site_manager="cs-lin")
    clock.advance(60)
    report = people.users.sync_from_site(changed)
    assert sorted(report.updated) == ["cs-lin", "hvac-liu", "hvac-zhang"]
    assert report.unlisted == ["hvac-li"] and report.added == []
    assert people.users.get("hvac-liu").roles == (Role.TECHNICIAN, Role.LEAD)
    assert people.users.get("hvac-zhang").roles == (Role.TECHNICIAN,)
    assert Role.MANAGER in people.users.get("cs-lin").roles
    gone = people.users.get("hvac-li")
    assert gone.roles == () and gone.crew is None and gone.has_password
    assert not gone.usable  # no role left: cannot sign in
    refused = people.login.authenticate("hvac-li", "correct horse battery", "10.0.0.1")
    assert isinstance(refused, LoginFailed) and refused.reason is LoginFailure.DISABLED


def test_site_people_member_of_two_crews() -> None:
    site = load_site()
    crews = [c.model_dump() for c in site.crews]
    crews[1]["members"].append(dict(crews[0]["members"][0]))  # hvac-zhang also electrical
    got = site_people(_site(crews=crews))
    assert got["hvac-zhang"][1] == "hvac"  # the first crew that lists them
    assert got["hvac-zhang"][2] == (Role.TECHNICIAN, Role.LEAD)


def test_add_update_disable(people: People, clock: ManualClock) -> None:
    u = people.users.add("op1", roles="operator,viewer", name="Olga Operator")
    assert u.roles == (Role.VIEWER, Role.OPERATOR) and u.crew is None and u.active
    with pytest.raises(Conflict):
        people.users.add("op1", roles=["operator"])
    with pytest.raises(Invalid, match="unknown role"):
        people.users.add("x1", roles=["operator", "boss"])
    with pytest.raises(Invalid, match="at least one role"):
        people.users.add("x1", roles=[])
    with pytest.raises(Invalid, match="not a user id"):
        people.users.add("bad id!", roles=["viewer"])
    clock.advance(5)
    u2 = people.users.update("op1", name="Olga O.", crew="hvac")
    assert u2.name == "Olga O." and u2.crew == "hvac" and u2.updated_at_ms > u.updated_at_ms
    assert people.users.update("op1", crew=None).crew is None
    d = people.users.disable("op1")
    assert not d.active and not d.usable
    assert people.users.update("op1", active=True).active
    with pytest.raises(NotFound):
        people.users.get("nobody")
    with pytest.raises(NotFound):
        people.users.set_password("nobody", "long enough pw")
    assert [x.id for x in people.users.list(role=Role.OPERATOR)] == ["op1"]
    assert {x.id for x in people.users.list(crew="hvac")} == {"hvac-zhang", "hvac-liu", "hvac-li"}


def test_password_stored_as_argon2_only(people: People, db: sa.Engine) -> None:
    people.users.set_password("hvac-liu", "correct horse battery")
    with db.connect() as conn:
        stored = conn.execute(
            sa.select(m.users.c.password_hash).where(m.users.c.id == "hvac-liu")
        ).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    user = people.users.get("hvac-liu")
    assert "argon2" not in repr(user) and "password_hash" not in user.public()
    with pytest.raises(Invalid, match="at least 8"):
        people.users.set_password("hvac-liu", "short")


def test_ensure_admin(people: People) -> None:
    pw = people.users.ensure_admin()
    assert pw is not None and len(pw) >= 16
    admin = people.users.get("admin")
    assert admin.roles == (Role.ADMIN,) and admin.has_password
    assert people.users.ensure_admin() is None  # an admin can sign in: nothing to do
    ok = people.login.authenticate("admin", pw, "127.0.0.1")
    assert isinstance(ok, LoginOk) and ok.user.id == "admin"
    # the admin was disabled: a restart gives a way back in, with a new password
    people.users.disable("admin")
    pw2 = people.users.ensure_admin()
    assert pw2 is not None and pw2 != pw and people.users.get("admin").usable
    assert not people.login.authenticate("admin", pw, "127.0.0.1").ok
    assert people.login.authenticate("admin", pw2, "127.0.0.1").ok


def test_ensure_admin_respects_another_admin(people: People) -> None:
    people.users.add("boss", roles=["admin"], password="a long password")
    assert people.users.ensure_admin() is None
    assert people.users.find("admin") is None
