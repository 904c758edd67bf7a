"""Bilingual dictionary readers (PanLex, FreeDict, MUSE, CLDR) into the one lexicon format."""
