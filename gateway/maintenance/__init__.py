"""Preventive maintenance: plans by calendar, by measured run-hours and by trend.

The package, by the part of the work each module holds:

- ``assets``: every device of the site file, and plant without telemetry, as assets;
- ``meters``: run-hours, starts and lamp hours integrated from telemetry, and the daily
  rows of trend fields, saved so they survive restarts;
- ``triggers``: when an occurrence is due (RFC 5545 rules through python-dateutil, meter
  marks, least-squares trend projection), pure functions of time;
- ``store``: plans and each (plan, asset)'s state in the state store;
- ``scheduler``: opens each due occurrence as one ``preventive`` ticket;
- ``figures``: PM compliance, planned share, overdue work, failures, MTBF, cost;
- ``service``: :class:`MaintenanceService`, which runs it all on the site's tick.

Checklists on tickets live with the tickets (``gateway.tickets.checklist``,
``gateway.tickets.preventive``).
"""

from __future__ import annotations

from gateway.maintenance.assets import AssetInfo, select, site_assets
from gateway.maintenance.meters import METERS, Meters
from gateway.maintenance.service import MaintenanceService

__all__ = ["METERS", "AssetInfo", "MaintenanceService", "Meters", "select", "site_assets"]
