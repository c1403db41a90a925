"""Dedup: exact and MinHash-LSH near-duplicate flags over the raw tables (issue 4)."""
