import dagster as dg

from intelli_assets.defs.inbox.sensors import InboxFolder, inbox

defs = dg.Definitions(sensors=[inbox], resources={"inbox_folder": InboxFolder()})
