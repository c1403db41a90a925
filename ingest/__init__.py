"""Ingest: GitHub sources (REST API, simulator) -> append-only raw Parquet tables under ``raw/``."""
