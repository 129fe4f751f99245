"""Dagster wiring: one folder per domain; the domain logic lives in plain modules above."""
