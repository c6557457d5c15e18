"""What a simulated device puts on the wire: values of the contract's telemetry.

The simulators are devices: they know the contract (topics, payloads) and the site file,
never the gateway's or the rule engine's internals.
"""

from __future__ import annotations

#: a telemetry value as the contract allows it (number, boolean or short string)
Value = float | bool | str
