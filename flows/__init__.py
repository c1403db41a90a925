"""Prefect flows, the pipeline config and the ``swe-curate`` CLI."""
