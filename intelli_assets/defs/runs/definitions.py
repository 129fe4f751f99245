import dagster as dg

from intelli_assets.defs.runs.sensors import orphaned_runs

defs = dg.Definitions(sensors=[orphaned_runs])
