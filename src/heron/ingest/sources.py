"""Turn what a user names (paths, a corpus) into source groups for the pipeline.

A file is one source, keyed by its absolute path and hashed by its bytes; a
corpus page is one source, hashed by its rendered text.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from heron.ingest.corpora import load_corpus
from heron.ingest.loaders import load_path
from heron.ingest.pipeline import SourceGroup, group_documents


@dataclass(frozen=True)
class LoadedGroups:
    groups: list[SourceGroup]
    skipped: list[tuple[str, str]]
    prefix: str


def path_groups(
    path: Path,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    text_field: str = "text",
    metadata_fields: Sequence[str] | None = None,
    max_file_bytes: int = 20_000_000,
) -> LoadedGroups:
    """Load a file or folder; ``prefix`` is what a re-ingest of a folder may prune."""
    result = load_path(
        path,
        include=include,
        exclude=exclude,
        text_field=text_field,
        metadata_fields=metadata_fields,
        max_file_bytes=max_file_bytes,
    )
    groups = [SourceGroup(f.path, f.sha256, f.documents) for f in result.files]
    skipped = [(s.path, s.reason) for s in result.skipped]
    prefix = os.path.abspath(path) + os.sep if path.is_dir() else ""
    return LoadedGroups(groups, skipped, prefix)


def corpus_groups(name: str, cache_dir: Path | None = None) -> list[SourceGroup]:
    """A built-in corpus, one group per page source."""
    return group_documents(load_corpus(name, cache_dir=cache_dir))
