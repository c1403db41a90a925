"""Data cards: one Hugging Face dataset card per release (issue 7)."""
