"""JSON field names fixed by ../shared/contract.md, written once for the tests that check
them (kept apart from the code under test on purpose)."""

#: an alarm's fields (contract section 4)
ALARM_FIELDS = frozenset(
    {
        "id",
        "rule",
        "site",
        "system",
        "device",
        "point",
        "zone",
        "priority",
        "state",
        "shelved",
        "suppressed",
        "out_of_service",
        "chattering",
        "raised_at",
        "source_ts",
        "cleared_at",
        "acked_at",
        "acked_by",
        "value",
        "message",
        "action",
        "ticket_ids",
    }
)
