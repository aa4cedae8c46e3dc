"""Answer checking: extraction, equivalence, per-source strategies (the filter stage)."""
