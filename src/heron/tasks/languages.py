"""Language codes: ISO 639-1 in, each translation backend's own convention out.

Users name languages by ISO 639-1 code (``en``, ``fr``) or English name; NLLB wants
FLORES-200 codes (``fra_Latn``), T5 wants English names in a prefix
("translate English to French: "), multi-target Marian models want ``>>fr<<``,
and an LLM prompt wants the English name. Unknown codes are an ``InputError``
listing close matches. Left out: scripts and regional variants beyond NLLB's codes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from heron.errors import InputError


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str  # English name
    flores: str  # NLLB / FLORES-200 code


_TABLE = (
    ("ar", "Arabic", "arb_Arab"), ("bg", "Bulgarian", "bul_Cyrl"), ("bn", "Bengali", "ben_Beng"),
    ("ca", "Catalan", "cat_Latn"), ("cs", "Czech", "ces_Latn"), ("da", "Danish", "dan_Latn"),
    ("de", "German", "deu_Latn"), ("el", "Greek", "ell_Grek"), ("en", "English", "eng_Latn"),
    ("es", "Spanish", "spa_Latn"), ("et", "Estonian", "est_Latn"), ("fa", "Persian", "pes_Arab"),
    ("fi", "Finnish", "fin_Latn"), ("fr", "French", "fra_Latn"), ("he", "Hebrew", "heb_Hebr"),
    ("hi", "Hindi", "hin_Deva"), ("hr", "Croatian", "hrv_Latn"), ("hu", "Hungarian", "hun_Latn"),
    ("id", "Indonesian", "ind_Latn"), ("it", "Italian", "ita_Latn"), ("ja", "Japanese", "jpn_Jpan"),
    ("ko", "Korean", "kor_Hang"), ("lt", "Lithuanian", "lit_Latn"), ("lv", "Latvian", "lvs_Latn"),
    ("nl", "Dutch", "nld_Latn"), ("no", "Norwegian", "nob_Latn"), ("pl", "Polish", "pol_Latn"),
    ("pt", "Portuguese", "por_Latn"), ("ro", "Romanian", "ron_Latn"), ("ru", "Russian", "rus_Cyrl"),
    ("sk", "Slovak", "slk_Latn"), ("sl", "Slovenian", "slv_Latn"), ("sr", "Serbian", "srp_Cyrl"),
    ("sv", "Swedish", "swe_Latn"), ("sw", "Swahili", "swh_Latn"), ("th", "Thai", "tha_Thai"),
    ("tr", "Turkish", "tur_Latn"), ("uk", "Ukrainian", "ukr_Cyrl"), ("ur", "Urdu", "urd_Arab"),
    ("vi", "Vietnamese", "vie_Latn"), ("zh", "Chinese", "zho_Hans"),
)  # fmt: skip

LANGUAGES: dict[str, Language] = {code: Language(code, name, fl) for code, name, fl in _TABLE}


def language(value: str) -> Language:
    """Look a language up by ISO 639-1 code, FLORES-200 code or English name."""
    key = value.strip()
    lowered = key.lower()
    if lowered in LANGUAGES:
        return LANGUAGES[lowered]
    for lang in LANGUAGES.values():
        if lowered in (lang.name.lower(), lang.flores.lower()):
            return lang
    choices = [*LANGUAGES, *(lang.name.lower() for lang in LANGUAGES.values())]
    close = difflib.get_close_matches(lowered, choices, n=3, cutoff=0.6)
    suggestion = f"did you mean {', '.join(close)}? " if close else ""
    raise InputError(
        f"unknown language code '{value}'",
        hint=f"{suggestion}use an ISO 639-1 code such as en, fr, de, es, ja "
        f"({len(LANGUAGES)} known: {', '.join(sorted(LANGUAGES))})",
    )
