"""Vocabularies: token counts, SentencePiece, fastText vectors, cross-lingual alignment and
SMALR's hybrid embedding vocabulary (``babelshard vocab build CONFIG``).

Loading API for trainers::

    from babelshard.vocab.hybrid import HybridVocab
    vocab = HybridVocab.load("<output>/hybrid")        # or the <output> folder itself
    ids = vocab.encode("a red double-decker bus", "en")
    vocab.num_tokens, vocab.num_special, vocab.num_language_specific, vocab.num_shared
    vocab.shared_offset, vocab.centroids                # shared rows start at shared_offset
    vocab.special_id("<mask>"), vocab.language_ranges   # language -> [start, end) of its own ids

    from babelshard.vocab.spm import load_sentencepiece
    processor = load_sentencepiece("<output>/sentencepiece")
"""
