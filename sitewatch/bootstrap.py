"""The composition root: the one place that knows every layer and wires them together.

Layers point down (``tests/test_layers.py`` checks it)::

    sitewatch (this: CLI and bootstrap)
      ├─> api (HTTP: routes, schemas, SSE framing)
      ├─> simulators (devices on the wire)
      └─> gateway (runtime, pipeline, services, store, sinks, MQTT)
                └─> rules (engine, language, packs; rules.model / rules.site / rules.vocab
                    are the shared leaves)

:func:`build_runtime` makes a :class:`gateway.runtime.Runtime` whose HTTP server serves
``api.main.create_app``; everything else (sink, services, pipeline stages, links) the
runtime builds from the settings through ``gateway.services.build_site``.
"""

from __future__ import annotations

from typing import Any

from api.main import create_app
from gateway.cluster.forward import member_url
from gateway.multisite import Host
from gateway.runtime import Runtime
from gateway.settings import Settings


def build_runtime(settings: Settings, **kwargs: Any) -> Runtime:
    """A runtime for ``settings`` with the HTTP API plugged in (``serve_http=False``
    leaves it out; ``make_app()`` still builds the app for an in-process client)."""
    kwargs.setdefault("http_app", create_app)
    return Runtime(settings, **kwargs)


def serves_several(settings: Settings) -> bool:
    """``SITEWATCH_SITES`` or ``SITEWATCH_SITES_DIR`` set: a :class:`gateway.multisite.Host`."""
    return bool(settings.site_ids or settings.sites_dir)


def build_host(settings: Settings, **kwargs: Any) -> Host:
    """A host of several sites (leases on PostgreSQL) with the HTTP API plugged in once,
    its address advertised to the cluster (requests for its sites are forwarded there)."""
    kwargs.setdefault("http_app", create_app)
    host = Host(settings, **kwargs)
    if host.leases is not None:
        host.leases.url = member_url(settings.advertise_url, settings.http_bind)
    return host
