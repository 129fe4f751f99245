from intelli_assets.cli import entrypoint

entrypoint()
