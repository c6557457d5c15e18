"""Revisions, oldest first: ``0001_initial`` creates alarms, journal, rule state and meta."""
