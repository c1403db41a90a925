"""Decontamination against benchmark references, with an audit of every removal (issue 5)."""
