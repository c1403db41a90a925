"""Format: BugFixer / TestWriter / commit-pack sequences, token counts, shard export (issues 6-7)."""
