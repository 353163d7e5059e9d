"""The files of one export: a writer per split, opened on its first prompt under a `.partial` name, renamed when the
export completes and removed when it fails. No Django."""

from __future__ import annotations

import logging
from pathlib import Path

from annotation.exports.options import ExportSpec
from annotation.exports.schema import Column
from annotation.exports.writers import Writer, open_writer

logger = logging.getLogger(__name__)


class Outputs:
    """Writers by split. In folder mode each split has its file; otherwise every split shares one (whose rows carry
    a `split` column when a test fraction is asked for)."""

    def __init__(self, out: Path, folder: bool, spec: ExportSpec, columns: list[Column]) -> None:
        self.out = out
        self.folder = folder
        self.spec = spec
        self.columns = columns
        self.writers: dict[str, Writer] = {}
        self.paths: dict[str, tuple[Path, Path]] = {}

    def writer(self, split: str) -> Writer:
        if not self.folder:
            split = "all"  # one file; its rows carry a `split` column when a test fraction is asked for
        writer = self.writers.get(split)
        if writer is None:
            final = self.out / f"{split}.{self.spec.file_type}" if self.folder else self.out
            partial = final.with_name(final.name + ".partial")
            writer = open_writer(partial, self.spec.file_type, self.columns)
            self.writers[split] = writer
            self.paths[split] = (partial, final)
        return writer

    def rows_written(self) -> int:
        return sum(w.rows_written for w in self.writers.values())

    def close(self) -> dict[str, str]:
        names = {}
        for split, writer in self.writers.items():
            writer.close()
            partial, final = self.paths[split]
            partial.replace(final)
            names[split] = final.name
        return names

    def abort(self) -> None:
        """Close and remove every partial file; the outputs can then be used again from scratch."""
        for split, writer in self.writers.items():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - cleaning up after the real error
                logger.warning("closing %s after a failed export", split, exc_info=True)
            self.paths[split][0].unlink(missing_ok=True)
        self.writers = {}
        self.paths = {}
