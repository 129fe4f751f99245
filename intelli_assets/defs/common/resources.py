"""The artifact store every domain writes to."""

from pathlib import Path

import dagster as dg

from intelli_assets.artifacts import ArtifactLayout, artifacts_root


class ArtifactStore(dg.ConfigurableResource):
    """Files of raw inputs, datasets and charts. Empty `root`: $INTELLI_ARTIFACTS_DIR, else
    `$DAGSTER_HOME/artifacts` (resolved when a run starts, so tests and the CLI can point it)."""

    root: str = ""

    @property
    def layout(self) -> ArtifactLayout:
        return ArtifactLayout(Path(self.root) if self.root else artifacts_root())
