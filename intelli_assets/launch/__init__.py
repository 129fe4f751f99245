"""Starting work: open the instance, register a source, build the run config, execute or
request the run, or describe a chart with an AI model. The CLI (`intelli run`, `retry`,
`describe`) and the inbox sensor go through this package; the CLI imports nothing from `defs/`.
"""

from intelli_assets.launch.config import chart_run_config, parse_overrides, select_charts
from intelli_assets.launch.describe import DescribeReport, describe_chart, print_description
from intelli_assets.launch.instance import ensure_pool_limits, open_instance, prepare_home, setup_lock
from intelli_assets.launch.intake import (
    Intake,
    file_owner,
    inbox_run_request,
    lost_intakes,
    note_batch_run,
    take_from_inbox,
)
from intelli_assets.launch.runs import (
    RunReport,
    execute_run,
    print_report,
    register_source,
    report_of_job,
    requester,
    retry_chart,
    run_workbook,
)

__all__ = ["DescribeReport", "Intake", "RunReport", "chart_run_config", "describe_chart", "ensure_pool_limits",
           "execute_run", "file_owner", "inbox_run_request", "lost_intakes", "note_batch_run", "open_instance",
           "parse_overrides", "prepare_home", "print_description", "print_report", "register_source",
           "report_of_job", "requester", "retry_chart", "run_workbook", "select_charts", "setup_lock",
           "take_from_inbox"]
