"""The site factory builds the maintenance service: its tick takes the rule engine's
device state (readings the gateway already receives) into the meters, and the meters
survive a rebuild of the site's services over the same database."""

from __future__ import annotations

from pathlib import Path

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.services import build_site
from gateway.settings import Settings
from gateway.site import load_site
from rules.model import Telemetry
from tests.gateway.maintenance.conftest import T0


def test_site_services_meter_the_engines_readings(tmp_path: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'state.db'}", site="sc01")
    clock = ManualClock(T0)

    def build() -> object:
        return build_site(
            settings, load_site(), clock, Metrics(), mqtt=None, publish=lambda *a: None
        )

    svc = build()
    for i in range(121):  # two hours of a running fan, a reading a minute
        clock.set(T0 + 60 * i)
        now = clock.now_ms()
        svc.engine.on_telemetry(  # type: ignore[attr-defined]
            Telemetry("sc01", "hvac", "fcu-lobby-01", now, {"fan": True, "filter_dp": 40.0}, now)
        )
        svc.tick(now)  # type: ignore[attr-defined]
    pm = svc.maintenance  # type: ignore[attr-defined]
    assert abs(pm.meters.value("fcu-lobby-01", "fan_hours") - 2.0) < 1e-9
    assert pm.asset("fcu-lobby-01")["meters"]["fan_hours"] == 2.0
    pm.close()
    svc.db.dispose()  # type: ignore[attr-defined]
    again = build()
    got = again.maintenance.meters.value("fcu-lobby-01", "fan_hours")  # type: ignore[attr-defined]
    assert abs(got - 2.0) < 1e-9  # read back from the store
    again.db.dispose()  # type: ignore[attr-defined]
