"""The checkpoint's SQLite schema, and how a file proves it is one of ours."""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "SCHEMA", "SCHEMA_VERSION"]

#: PRAGMA application_id of a harvester checkpoint ("HRVS"): tells ours from any SQLite file.
APPLICATION_ID = 0x48525653
SCHEMA_VERSION = 1

# searches: one row per search of the job, final once `status` is set.
# pages: every page fetched (staged or written) — the engine never fetches these again.
# staged: hits of pages whose search has not ended yet; deleted when the search is written.
# shards: each shard file's committed size; recovery truncates the file to it.
# job_keys: patent ids written so far, for dedupe = "job" (on disk, so memory stays flat).
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE searches (
    sid INTEGER PRIMARY KEY,
    search_id TEXT NOT NULL UNIQUE,
    total INTEGER,
    reachable INTEGER,
    status TEXT,
    records INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER,
    error_msg TEXT,
    deadline TEXT
);
CREATE TABLE pages (
    sid INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    "limit" INTEGER NOT NULL,
    total INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    harvested_at TEXT NOT NULL,
    PRIMARY KEY (sid, "offset")
) WITHOUT ROWID;
CREATE TABLE staged (
    sid INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sid, "offset")
);
CREATE TABLE shards (shard INTEGER PRIMARY KEY, size INTEGER NOT NULL, records INTEGER NOT NULL);
CREATE TABLE job_keys (patent_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT);
"""
