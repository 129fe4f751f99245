import dagster as dg

from intelli_assets.defs.inbox.batch import inbox_batch_job
from intelli_assets.defs.inbox.sensors import InboxFolder, inbox

defs = dg.Definitions(sensors=[inbox], jobs=[inbox_batch_job], resources={"inbox_folder": InboxFolder()})
