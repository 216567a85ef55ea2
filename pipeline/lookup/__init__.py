"""Lookups an investigator runs on the published database (`armtrace trace`)."""
