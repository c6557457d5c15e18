"""sitewatch, the program: the composition root above every layer.

``sitewatch.bootstrap`` builds a running gateway from the settings (the gateway's runtime
with the HTTP layer plugged in); ``sitewatch.cli`` is the command line. This package may
import every layer (``rules``, ``gateway``, ``api``, ``simulators``); no layer imports it.
"""
