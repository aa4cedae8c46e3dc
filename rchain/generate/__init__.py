"""The generate stage: NuminaMath problems -> teacher replies -> the `raw` subset."""
