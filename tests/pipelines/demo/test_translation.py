"""The demo's translation step: which Apertium pairs are used, and the chrF lines."""
from __future__ import annotations

from babelshard.records import Caption, CaptionSample
from babelshard.testing import require_command, require_debian
from babelshard.pipelines.demo.translation import demo_translate_config, quality_lines


def test_installed_pairs_are_used_and_missing_ones_named():
    require_command("apertium", "apertium")
    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    config, note = demo_translate_config(("es", "fr"))
    assert config is not None and dict(config.targets) == {"es": "apertium"}
    assert config.when_human_exists == "translate"
    assert "en->es" in note and "apt-get install apertium-eng-fra" in note
    nothing, note = demo_translate_config(("fr",))
    assert nothing is None and "skipped" in note and "apertium-eng-fra" in note


def test_quality_lines_report_each_language():
    sample = CaptionSample(
        key="k", source="openmoji", url="u",
        captions={"en": Caption("red apple"), "es": Caption("Manzana roja", "mt", "apertium", "apertium/eng-spa")},
        extra_captions={"es": ("manzana roja",)},
    )
    es, ca = quality_lines([sample], ("es", "ca"))
    assert es.startswith("es: chrF") and "1 captions" in es
    assert ca.startswith("ca: no machine-vs-human pairs") and "1 untranslated" in ca
