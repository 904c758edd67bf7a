"""Language codes the engines need: Apertium's ISO 639-3 names and NLLB/M2M-100 tokens.

Only common languages are listed; a config maps any other code explicitly
(``language_codes`` for CTranslate2, ``modes`` for Apertium).
"""
from __future__ import annotations

ISO639_3 = {
    "af": "afr", "an": "arg", "ar": "ara", "ast": "ast", "be": "bel", "bg": "bul", "br": "bre", "ca": "cat",
    "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "el": "ell", "en": "eng", "eo": "epo", "es": "spa",
    "et": "est", "eu": "eus", "fa": "fas", "fi": "fin", "fr": "fra", "ga": "gle", "gl": "glg", "he": "heb",
    "hi": "hin", "hr": "hbs", "hu": "hun", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn", "kk": "kaz",
    "ko": "kor", "lt": "lit", "lv": "lav", "mk": "mkd", "ms": "msa", "mt": "mlt", "nb": "nob", "nl": "nld",
    "nn": "nno", "no": "nob", "oc": "oci", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sc": "srd",
    "sk": "slk", "sl": "slv", "sq": "sqi", "sr": "hbs", "sv": "swe", "tr": "tur", "uk": "ukr", "ur": "urd",
    "zh": "zho",
}

NLLB_CODES = {
    "af": "afr_Latn", "ar": "arb_Arab", "bg": "bul_Cyrl", "bn": "ben_Beng", "ca": "cat_Latn", "cs": "ces_Latn",
    "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn", "es": "spa_Latn",
    "et": "est_Latn", "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "gl": "glg_Latn",
    "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn", "hu": "hun_Latn", "id": "ind_Latn", "it": "ita_Latn",
    "ja": "jpn_Jpan", "ko": "kor_Hang", "lt": "lit_Latn", "lv": "lvs_Latn", "nl": "nld_Latn", "no": "nob_Latn",
    "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sk": "slk_Latn", "sl": "slv_Latn",
    "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "th": "tha_Thai", "tr": "tur_Latn", "uk": "ukr_Cyrl",
    "ur": "urd_Arab", "vi": "vie_Latn", "zh": "zho_Hans",
}


def apertium_code(language: str) -> str:
    """ISO 639-3 as Apertium names its pairs (``en`` -> ``eng``); 3-letter codes pass through."""
    base = language.replace("-", "_").split("_")[0].lower()
    return ISO639_3.get(base, base)


def model_language_token(language: str, style: str, overrides: dict[str, str]) -> str:
    """The token a multilingual model uses for ``language`` (``__es__`` or ``spa_Latn``)."""
    if language in overrides:
        return overrides[language]
    if style == "m2m100":
        return f"__{language}__"
    if style == "nllb":
        if language not in NLLB_CODES:
            raise ValueError(f"no NLLB code known for {language!r}; add it under language_codes")
        return NLLB_CODES[language]
    raise ValueError(f"language tokens style {style!r} has no language tokens")
