"""Operations: the admin listener and the metrics."""
