"""Caption translation: engines (CTranslate2, Apertium), the RunInference handler,
quality filters and the translation cache.

Entry points: :class:`babelshard.translate.transform.TranslateCaptions` (Beam),
:func:`babelshard.translate.engines.create_engine` (plain Python),
:func:`babelshard.pipelines.jobs.translate.run_translate` (``babelshard translate``) and
:func:`babelshard.translate.quality_report.chrf_against_human`.
"""
