"""WebDataset shards: tar writing (also as a Beam sink), the index, reading, publishing, weights."""
