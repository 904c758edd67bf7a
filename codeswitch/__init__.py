"""Bilingual lexicons and M3P-style code-switched captions.

- ``lexfile``: the one normalized lexicon format (parquet) and its reading API:
  ``read_lexicon(path)``, ``load_lexicon_pairs(path, tgt)``, ``lexicon_stats(path)``.
- Importers into that format: ``panlex`` (CSV dump zip, streamed), ``muse``,
  ``freedict`` (Debian dictd files, with ``dictd`` and ``senses``), ``cldr`` (emoji names).
- ``lexicon.Lexicon``: the in-memory lookup structure; ``loading.load_lexicon(cfg)``
  builds it from a ``CodeSwitchConfig`` (``cached_lexicon``: once per process, outside Beam).
- ``transform.code_switch``: the pure, deterministic per-caption function (no Beam).
- ``beam.CodeSwitchCaptions``: the Beam stage that fills ``CaptionSample.codeswitched``.
- ``cli``: ``babelshard lexicon import|stats``.

Submodules are imported where used, so importing this package stays cheap.
"""
