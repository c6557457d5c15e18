"""Rule packs shipped with sitewatch (``default.yaml``: the contract's default rules)."""
