"""The registry of data formats, in detection order (more specific formats first)."""

from __future__ import annotations

from annotation.importers.formats.base import Format, ParseContext
from annotation.importers.formats.listwise import Listwise, OpenAssistantTrees
from annotation.importers.formats.multi_annotator import MTBenchVerdicts, MTBenchVotes, PandaLM, PandaLMVerdicts
from annotation.importers.formats.pairwise import HhRlhf, TrlPairwise
from annotation.importers.formats.verdicts import Verdicts

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        PandaLM(),
        PandaLMVerdicts(),
        MTBenchVotes(),
        MTBenchVerdicts(),
        OpenAssistantTrees(),
        Verdicts(),
        Listwise(),
        TrlPairwise(),
        HhRlhf(),
    )
}


def detect_format(columns: set[str]) -> Format | None:
    return next((f for f in FORMATS.values() if f.matches(columns)), None)


__all__ = ["FORMATS", "Format", "ParseContext", "detect_format"]
