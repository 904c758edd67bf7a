"""Training data: shard streams, decoding, the stream mixer, tokenizers, image transforms."""
