"""Tests for gateway.signals.gpp: the consent.md §6 GPP vectors, decoding rules and properties.

``VECTORS`` transcribes the entries of kind gpp, gpp_invalid, gpp_header, gpp_section_usnat and
gpp_section_usca of consent_vectors.json (consent.md §6), so the suite needs no file outside the
repository; ``test_vectors_match_reference_file`` compares the transcription with the file,
entry for entry, wherever the file is available.

Strings for the rule tests are built by a small encoder written here from the spec text
(consent.md §2.1), independently of the decoder, and checked against the spec's own examples.
"""

from __future__ import annotations

import dataclasses
import json
import re
import string
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signals.errors import SignalError
from gateway.signals.gpp import (
    PREFIXES,
    GppString,
    UspV1,
    UsSection,
    decode,
    decode_header,
)

_ES_REPO = ("IABTechLab/iabgpp-es", "fd0546e7b28e7e186bc27aac6375e6c10a80e47e")
_ES_MODEL = "modules/cmpapi/test/GppModel.test.ts"
_ES_HEADER = "modules/cmpapi/test/encoder/section/HeaderV1.test.ts"
_ES_USNAT = "modules/cmpapi/test/encoder/section/UsNat.test.ts"
_ES_USCA = "modules/cmpapi/test/encoder/section/UsCa.test.ts"
_LR_REPO = ("LiveRamp/iabconsent", "9e784fb336449f1a48eaf0c6adb24c66cc94378d")
_SPEC_REPO = (
    "InteractiveAdvertisingBureau/Global-Privacy-Platform",
    "b27beb411c14d48d7fb36c09e2abdf49c20d7d8d",
)


def _source(repo: tuple[str, str], path: str, test: str) -> dict[str, str]:
    name, commit = repo
    url = f"https://github.com/{name}/blob/{commit}/{path}"
    return {"repo": name, "commit": commit, "path": path, "test": test, "url": url}


def _es(path: str, test: str) -> dict[str, str]:
    return _source(_ES_REPO, path, test)


def _lr(test: str) -> dict[str, str]:
    source = _source(_LR_REPO, "gpp_parsed_consent_fixture_test.go", test)
    also = _source(_LR_REPO, "mspa_parsed_consent_fixture_test.go", test)["url"]
    return {**source, "also": f"{also} (field values)"}


def _spec(test: str) -> dict[str, str]:
    return _source(_SPEC_REPO, "Core/Consent String Specification.md", test)


VECTORS: list[dict[str, Any]] = [
    {
        "kind": "gpp",
        "string": (
            "DBABMA~CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA"
        ),
        "expected": {
            "section_ids": [2],
            "tcfeuv2": {
                "cmp_id": 880,
                "cmp_version": 0,
                "consent_screen": 0,
                "consent_language": "EN",
                "vendor_list_version": 48,
                "tcf_policy_version": 2,
                "is_service_specific": True,
                "use_non_standard_texts": False,
                "purpose_one_treatment": False,
                "publisher_cc": "DE",
                "vendor_consents": [1, 2, 3, 4],
                "vendor_li": [],
                "disclosed_vendors": [1, 2, 3, 4, 5, 100, 404],
                "created": "2022-01-01T00:00:00Z",
            },
        },
        "source": _es(
            _ES_MODEL,
            ("should encode tcfeuv2 sections (encode assertion: fields set -> this string)"),
        ),
        "note": (
            "The same TC string (with header) appears as the example in the "
            "TCF v2 format spec; created-date there is a later one. Header "
            "here is 'DBABMA' while the GPP spec example shows 'DBABM' - "
            "decoders must tolerate trailing zero padding."
        ),
    },
    {
        "kind": "gpp",
        "string": ("DBACNYA~CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAAAAAAAAAAA.IAAA.YAAAAAAAAAAA~1YNN"),
        "expected": {
            "section_ids": [2, 6],
            "uspv1": {
                "Version": 1,
                "Notice": "Y",
                "OptOutSale": "N",
                "LspaCovered": "N",
            },
            "tcfeuv2": {
                "version": 2,
                "cmp_id": 880,
                "cmp_version": 0,
                "consent_screen": 0,
                "consent_language": "EN",
                "vendor_list_version": 48,
                "tcf_policy_version": 2,
                "is_service_specific": True,
                "use_non_standard_texts": False,
                "purpose_one_treatment": False,
                "publisher_cc": "AA",
                "created": "2022-01-01T00:00:00Z",
                "last_updated": "2022-01-01T00:00:00Z",
            },
        },
        "source": _es(_ES_MODEL, "should decode uspv1 and tcfeuv2 sections"),
    },
    {
        "kind": "gpp",
        "string": ("DBABMA~CPSG_8APSG_8ANwAAAENDgCgAAAAAAAAAAAAAAAAAAAA.IAAA.YAAAAAAAAAAA"),
        "expected": {
            "section_ids": [2],
            "tcfeuv2": {
                "version": 2,
                "cmp_id": 880,
                "vendor_list_version": 224,
                "tcf_policy_version": 2,
                "is_service_specific": True,
                "publisher_cc": "AA",
                "created": "2022-01-01T00:00:00Z",
            },
        },
        "source": _es(_ES_MODEL, "should decode tcfeuv2 sections"),
    },
    {
        "kind": "gpp",
        "string": "DBABTA~1YNN",
        "expected": {
            "section_ids": [6],
            "uspv1": {
                "Notice": "Y",
                "OptOutSale": "N",
                "LspaCovered": "N",
            },
        },
        "source": _es(_ES_MODEL, "should decode uspv1 section"),
    },
    {
        "kind": "gpp",
        "string": (
            "DBACOeA~"
            "CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAAAAAAAAAAA.IAAA.YAAAAAAAAAAA~"
            "BPSG_8APSG_8AAyACAENGdCgf_gfgAfgfgBgABABAAABAB4AACACADwAAEAE.fHH"
            "HA4444ao~"
            "1YNN"
        ),
        "expected": {
            "section_ids": [2, 5, 6],
            "uspv1": {
                "Notice": "Y",
                "OptOutSale": "N",
                "LspaCovered": "N",
            },
        },
        "source": _es(_ES_MODEL, "should decode uspv1 and tcfeuv2 and tcfcav1 sections"),
        "note": "Section 5 (tcfcav1) not decoded by our checker.",
    },
    {
        "kind": "gpp",
        "string": "DBABLA~BAAAVVVVUQA.QA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "SensitiveDataProcessing": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                "KnownChildSensitiveDataConsents": [1, 1],
            },
        },
        "source": _es(_ES_MODEL, "should decode usnat v1"),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~CAAAVVVVAFBA.QA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "SensitiveDataProcessing": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [1, 1, 0],
            },
        },
        "source": _es(_ES_MODEL, "should decode usnat v2 with v1 values"),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~CAAAVVVVVVRA.QA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "SensitiveDataProcessing": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                "KnownChildSensitiveDataConsents": [1, 1, 1],
            },
        },
        "source": _es(_ES_MODEL, "should decode usnat v2 with v2 values"),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~CAAAAAABEQA.QA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [0, 1, 0],
            },
        },
        "source": _es(_ES_MODEL, "should decode DBABLA~CAAAAAABEQA.QA"),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~CAAAAAAAAQRA.QA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                "KnownChildSensitiveDataConsents": [0, 0, 1],
            },
        },
        "source": _es(_ES_MODEL, "should decode DBABLA~CAAAAAAAAQRA.QA"),
    },
    {
        "kind": "gpp",
        "string": (
            "DBABMA~"
            "CPSG_8APSG_8AAAAAAENAAFgAAAAAAAAAAAAFpQAwAAgCtAWkAAAAAAA.IFpQBQA"
            "AwAKAAsADoArQFpAA.YAAAAAAAAAAA"
        ),
        "expected": {
            "section_ids": [2],
            "tcfeuv2": {
                "vendor_consents": [1, 173, 722],
                "disclosed_vendors": [1, 10, 11, 29, 173, 722],
            },
        },
        "source": _es(_ES_MODEL, "should decode tcfeuv2 vendor consents [1, 173, 722]"),
    },
    {
        "kind": "gpp",
        "string": ("DBABMA~CPSG_8APSG_8AAAAAAENAAFgAAAAAAAAAAAAAOAAAABAAAAA.IAOABgAB.YAAAAAAAAAAA"),
        "expected": {
            "section_ids": [2],
            "tcfeuv2": {
                "vendor_consents": [28],
                "disclosed_vendors": [10, 11, 28],
            },
        },
        "source": _es(_ES_MODEL, "should decode tcfeuv2 vendor consents [28]"),
    },
    {
        "kind": "gpp",
        "string": "DBAA",
        "expected": {
            "section_ids": [],
        },
        "source": _es(_ES_MODEL, "should encode empty sections to only a header"),
    },
    {
        "kind": "gpp_invalid",
        "string": "DBACOeA~~1YNN",
        "expected": {
            "error": True,
            "error_message": (
                "The number of sections does not match the number of sections "
                "defined in the header."
            ),
        },
        "source": _es(_ES_MODEL, "should fail to decode blank sections"),
    },
    {
        "kind": "gpp_invalid",
        "string": (
            "DBACOeA~"
            "CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~"
            "BPSG_8APSG_8AAyACAENGdCgf_gfgAfgfgBhADVqxGAD0AILVgAA.fHHHA4444ao"
        ),
        "expected": {
            "error": True,
            "error_message": (
                "The number of sections does not match the number of sections "
                "defined in the header."
            ),
        },
        "source": _es(_ES_MODEL, "should fail to decode missing sections"),
    },
    {
        "kind": "gpp_header",
        "string": "DBABMA",
        "expected": {
            "section_ids": [2],
        },
        "source": _es(_ES_HEADER, "should decode DBABMA to section ids [2]"),
    },
    {
        "kind": "gpp_header",
        "string": "DBACNYA",
        "expected": {
            "section_ids": [2, 6],
        },
        "source": _es(_ES_HEADER, "should decode DBACNYA to section ids [2, 6]"),
    },
    {
        "kind": "gpp_header",
        "string": "DBABM",
        "expected": {
            "section_ids": [2],
        },
        "source": _spec("Header Examples 1-3"),
    },
    {
        "kind": "gpp_header",
        "string": "DBACNY",
        "expected": {
            "section_ids": [2, 6],
        },
        "source": _spec("Header Examples 1-3"),
    },
    {
        "kind": "gpp_header",
        "string": "DBABjw",
        "expected": {
            "section_ids": [5, 6],
        },
        "source": _spec("Header Examples 1-3"),
    },
    {
        "kind": "gpp_section_usnat",
        "string": "CVVVkkkkkpFY.YA",
        "expected": {
            "Version": 2,
            "SharingNotice": 1,
            "SaleOptOutNotice": 1,
            "SharingOptOutNotice": 1,
            "TargetedAdvertisingOptOutNotice": 1,
            "SensitiveDataProcessingOptOutNotice": 1,
            "SensitiveDataLimitUseNotice": 1,
            "SaleOptOut": 1,
            "SharingOptOut": 1,
            "TargetedAdvertisingOptOut": 1,
            "SensitiveDataProcessing": [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2],
            "KnownChildSensitiveDataConsents": [2, 1, 0],
            "PersonalDataConsents": 1,
            "MspaCoveredTransaction": 1,
            "MspaOptOutOptionMode": 1,
            "MspaServiceProviderMode": 2,
            "Gpc": True,
        },
        "source": _es(_ES_USNAT, "should encode to CVVVkkkkkpFY.YA"),
        "note": (
            "Version 2 is the library default. The matching decode test in "
            "the same file uses chai expect(expected, actual) with swapped "
            "arguments, so it asserts nothing; only the encode direction is "
            "verified upstream."
        ),
    },
    {
        "kind": "gpp_section_usca",
        "string": "BVWSSSVY.YA",
        "expected": {
            "Version": 1,
            "SaleOptOutNotice": 1,
            "SharingOptOutNotice": 1,
            "SensitiveDataLimitUseNotice": 1,
            "SaleOptOut": 1,
            "SharingOptOut": 1,
            "SensitiveDataProcessing": [2, 1, 0, 2, 1, 0, 2, 1, 0],
            "KnownChildSensitiveDataConsents": [2, 1],
            "PersonalDataConsents": 1,
            "MspaCoveredTransaction": 1,
            "MspaOptOutOptionMode": 1,
            "MspaServiceProviderMode": 2,
            "Gpc": True,
        },
        "source": _es(_ES_USCA, "should encode to BVWSSSVY.YA"),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~BVVqAAEABCA.QA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "Version": 1,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 2,
                "SharingOptOut": 2,
                "TargetedAdvertisingOptOut": 2,
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [0, 0],
                "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
                "Gpc": False,
            },
        },
        "source": _lr(
            "gppParsedConsentFixtures['DBABLA~BVVqAAEABCA.QA'] -> "
            "mspaConsentFixtures[7]['BVVqAAEABCA.QA']"
        ),
        "note": (
            "MspaCoveredTransaction=0 is outside the spec's 1/2 domain; "
            "iabconsent parses it as 'not applicable'. A strict gateway "
            "should treat 0 as 'not covered/unknown'."
        ),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~BVVqAAEABCA.YA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "Version": 1,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 2,
                "SharingOptOut": 2,
                "TargetedAdvertisingOptOut": 2,
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [0, 0],
                "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
                "Gpc": True,
            },
        },
        "source": _lr("gppParsedConsentFixtures['DBABLA~BVVqAAEABCA.YA']"),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~BVVqAAEABCA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "Version": 1,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 2,
                "SharingOptOut": 2,
                "TargetedAdvertisingOptOut": 2,
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [0, 0],
                "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
                "Gpc": False,
            },
        },
        "source": _lr(
            "gppParsedConsentFixtures['DBABLA~BVVqAAEABCA'] (no GPC subsection = GPC false)"
        ),
    },
    {
        "kind": "gpp",
        "string": "DBABLA~CVVVVVVVVVVW.YA",
        "expected": {
            "section_ids": [7],
            "usnat": {
                "Version": 2,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 1,
                "SharingOptOut": 1,
                "TargetedAdvertisingOptOut": 1,
                "SensitiveDataProcessing": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                "KnownChildSensitiveDataConsents": [1, 1, 1],
                "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 1,
                "MspaOptOutOptionMode": 1,
                "MspaServiceProviderMode": 1,
                "Gpc": True,
            },
        },
        "source": _lr(
            "gppParsedConsentFixtures['DBABLA~CVVVVVVVVVVW.YA'] (usnat v2, all opted out, GPC true)"
        ),
    },
    {
        "kind": "gpp",
        "string": "DBABBg~BVoYYZoI",
        "expected": {
            "section_ids": [8],
            "usca": {
                "Version": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 2,
                "SharingOptOut": 2,
                "SensitiveDataProcessing": [0, 1, 2, 0, 1, 2, 0, 1, 2],
                "KnownChildSensitiveDataConsents": [1, 2],
                "PersonalDataConsents": 2,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
                "Gpc": False,
            },
        },
        "source": _lr("gppParsedConsentFixtures['DBABBg~BVoYYZoI']"),
        "note": (
            "In usca, SensitiveDataProcessing values are opt-OUTs (1=opted "
            "out, 2=did not opt out), unlike usnat where they are consents "
            "(1=no consent, 2=consent)."
        ),
    },
    {
        "kind": "gpp",
        "string": "DBACLMA~BVVqAAEABCA~BVoYYYI",
        "expected": {
            "section_ids": [7, 9],
            "usnat": {
                "Version": 1,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 2,
                "SharingOptOut": 2,
                "TargetedAdvertisingOptOut": 2,
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [0, 0],
                "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
                "Gpc": False,
            },
            "usva": {
                "Version": 1,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SaleOptOut": 2,
                "TargetedAdvertisingOptOut": 2,
                "SensitiveDataProcessing": [0, 1, 2, 0, 1, 2, 0, 1],
                "KnownChildSensitiveDataConsents": 2,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
            },
        },
        "source": _lr("gppParsedConsentFixtures['DBACLMA~BVVqAAEABCA~BVoYYYI']"),
        "note": (
            "usva (section 9) has no GPC subsection in the IAB spec; "
            "KnownChildSensitiveDataConsents is a single Int(2) there, not a "
            "list."
        ),
    },
    {
        "kind": "gpp",
        "string": "DBABzw~1YNN~BVVqAAEABCA.QA",
        "expected": {
            "section_ids": [6, 7],
            "usnat": {
                "Version": 1,
                "SharingNotice": 1,
                "SaleOptOutNotice": 1,
                "SharingOptOutNotice": 1,
                "TargetedAdvertisingOptOutNotice": 1,
                "SensitiveDataProcessingOptOutNotice": 1,
                "SensitiveDataLimitUseNotice": 1,
                "SaleOptOut": 2,
                "SharingOptOut": 2,
                "TargetedAdvertisingOptOut": 2,
                "SensitiveDataProcessing": [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                "KnownChildSensitiveDataConsents": [0, 0],
                "PersonalDataConsents": 1,
                "MspaCoveredTransaction": 0,
                "MspaOptOutOptionMode": 0,
                "MspaServiceProviderMode": 2,
                "Gpc": False,
            },
        },
        "source": _lr("gppParsedConsentFixtures['DBABzw~1YNN~BVVqAAEABCA.QA']"),
        "note": "iabconsent skips the uspv1 section; only usnat is asserted.",
    },
    {
        "kind": "gpp",
        "string": "DBABrGA~BVVqAAEABCA~BVoYYZoI~BVoYYYI~BVoYYQg~BVaGGGCA~BVoYYYQg",
        "expected": {
            "section_ids": [7, 8, 9, 10, 11, 12],
        },
        "source": _lr("gppParsedConsentFixtures['DBABrGA~...'] (national + CA, VA, CO, UT, CT)"),
        "note": "Header uses a Fibonacci group (7..12).",
    },
]

GPP_KINDS = ("gpp", "gpp_invalid", "gpp_header", "gpp_section_usnat", "gpp_section_usca")
REFERENCE_FILES = (
    Path(__file__).resolve().parent.parent / "vectors" / "consent_vectors.json",
    Path("/work/shared/reference/consent_vectors.json"),
)
# Headers taken from other vectors, to put a bare section vector into a GPP string.
SECTION_HEADERS = {"gpp_section_usnat": "DBABLA", "gpp_section_usca": "DBABBg"}
SECTION_PREFIX = {"gpp_section_usnat": "usnat", "gpp_section_usca": "usca"}
# The upstream error message of an invalid vector -> our (value-free) reason for it.
UPSTREAM_ERRORS = {
    "The number of sections does not match the number of sections defined in the header.": (
        "number of sections does not match the header"
    ),
}

# Every reason the decoder may give. A fixed set proves no reason carries the input.
_US_PREFIXES = ("usnat", "usca", "usva")
_SECTION_FAULTS = (
    "is empty",
    "is not base64url",
    "is truncated",
    "is longer than its fields",
    "has a field value outside 0-2",
    "has more than one sub-section",
    "has a sub-section its layout does not define",
)
_SUBSECTION_FAULTS = (
    "is empty",
    "is not base64url",
    "is not a GPC sub-section",
    "is longer than its fields",
)
KNOWN_REASONS = frozenset(
    {
        "GPP string is not text",
        "GPP string is empty",
        "GPP string is too long",
        "GPP header is not text",
        "GPP header is empty",
        "GPP header is not base64url",
        "GPP header is truncated",
        "GPP header is longer than its fields",
        "GPP header has an out-of-range section id",
        "GPP header lists too many sections",
        "not a GPP string: header type is not 3",
        "unsupported GPP header version",
        "number of sections does not match the header",
        "a GPP section is empty",
        "tcfeuv2 section is not a base64url TC string",
        "uspv1 section must be exactly 4 characters",
        "uspv1 section has an unsupported version",
        "uspv1 section has a flag that is not Y, N or - (upper case)",
        "uspv1 opt-out of sale is '-' although the string says CCPA applies",
    }
    | {f"{prefix} section {fault}" for prefix in _US_PREFIXES for fault in _SECTION_FAULTS}
    | {f"{prefix} sub-section {fault}" for prefix in _US_PREFIXES for fault in _SUBSECTION_FAULTS}
)
KNOWN_UNDECODED = frozenset(
    {"no layout for this section", "unknown section id"}
    | {f"no layout for this {prefix} version" for prefix in _US_PREFIXES}
)
_EVERY_SECTION = "all present sections apply"

# Vector key -> dataclass field where snake-casing the key is not the name; a key that maps
# to no field fails the comparison.
FIELD_ALIASES = {
    "SaleOptOut": "sale_opt_out_code",
    "SharingOptOut": "sharing_opt_out_code",
    "TargetedAdvertisingOptOut": "targeted_advertising_opt_out_code",
    "LspaCovered": "lspa",
}
# usva's spec has a single Int(2) here; the decoder keeps every section's list as a tuple.
SCALAR_IN_SPEC = {("usva", "KnownChildSensitiveDataConsents")}


def _source_id(vector: dict[str, Any]) -> str:
    source = vector["source"]
    name = re.sub(r"\W+", "_", f"{source['repo'].split('/')[-1]}:{source['test']}")
    return f"{vector['kind']}:{name.strip('_')[:60]}@{vector['string'][:24]}"


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _assert_fields(decoded: object, prefix: str, expected: dict[str, Any]) -> None:
    """Every expected key names a field of ``decoded`` and holds the expected value."""
    assert decoded is not None, f"{prefix} section missing"
    names = {spec.name for spec in dataclasses.fields(decoded)}  # type: ignore[arg-type]
    for key, want in expected.items():
        name = FIELD_ALIASES.get(key, _snake(key))
        if name not in names:
            pytest.fail(f"comparator does not understand {prefix}.{key}")
        got = getattr(decoded, name)
        if (prefix, key) in SCALAR_IN_SPEC:
            assert isinstance(got, tuple) and len(got) == 1, f"{prefix}.{key}"
            got = got[0]
        elif isinstance(got, tuple):
            got = list(got)
        # Types too, so True never passes for 1.
        assert (type(got), got) == (type(want), want), f"{prefix}.{key}"


def _check_gpp(text: str, result: GppString | SignalError, expected: dict[str, Any]) -> None:
    expected = dict(expected)
    if expected.pop("error", False):
        upstream = expected.pop("error_message")
        assert upstream in UPSTREAM_ERRORS, f"comparator does not understand {upstream!r}"
        assert result == SignalError("gpp", UPSTREAM_ERRORS[upstream])
    else:
        assert isinstance(result, GppString), result
    parts = text.split("~")[1:]
    for key, want in expected.items():
        assert isinstance(result, GppString)
        if key == "section_ids":
            assert list(result.section_ids) == want
        elif key == "tcfeuv2":
            # Handed over as text; its fields are compared in test_tcfeuv2_section_fields.
            assert result.tcfeuv2 == parts[result.section_ids.index(2)]
        elif key == "uspv1":
            _assert_fields(result.uspv1, key, want)
        elif key in PREFIXES.values() and isinstance(want, dict):
            _assert_fields(result.present.us_section(key), key, want)
        else:
            pytest.fail(f"comparator does not understand {key}")


@pytest.mark.parametrize("vector", VECTORS, ids=[_source_id(v) for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    """Each vector decodes to every value its source asserts (or fails as it says)."""
    kind, text, expected = vector["kind"], vector["string"], vector["expected"]
    if kind == "gpp_header":
        assert set(expected) == {"section_ids"}, "comparator does not understand the keys"
        assert decode_header(text) == tuple(expected["section_ids"])
    elif kind in SECTION_HEADERS:
        result = decode(f"{SECTION_HEADERS[kind]}~{text}")
        assert isinstance(result, GppString), result
        _assert_fields(result.present.us_section(SECTION_PREFIX[kind]), kind, expected)
    else:
        _check_gpp(text, decode(text), expected)


TCF_VECTORS = [vector for vector in VECTORS if "tcfeuv2" in vector["expected"]]


@pytest.mark.parametrize("vector", TCF_VECTORS, ids=[_source_id(v) for v in TCF_VECTORS])
def test_tcfeuv2_section_fields(vector: dict[str, Any]) -> None:
    """Section 2's TC string, read by gateway.signals.tcf, holds every asserted field."""
    result = decode(vector["string"])
    assert isinstance(result, GppString)
    assert result.tcfeuv2 is not None
    tcf = pytest.importorskip("gateway.signals.tcf")
    tc_string = tcf.decode(result.tcfeuv2)
    assert not isinstance(tc_string, SignalError), tc_string
    for key, want in vector["expected"]["tcfeuv2"].items():
        if not hasattr(tc_string, key):
            pytest.fail(f"comparator does not understand tcfeuv2.{key}")
        got = getattr(tc_string, key)
        if key in ("created", "last_updated"):
            assert got == datetime.fromisoformat(want), key
        elif isinstance(got, frozenset):
            assert sorted(got) == want, key
        else:
            assert (type(got), got) == (type(want), want), key


def test_vectors_cover_the_kinds() -> None:
    """The copy holds the 30 GPP vectors of consent.md §6.1, with distinct test ids."""
    counts = {kind: sum(v["kind"] == kind for v in VECTORS) for kind in GPP_KINDS}
    assert counts == {
        "gpp": 21,
        "gpp_invalid": 2,
        "gpp_header": 5,
        "gpp_section_usnat": 1,
        "gpp_section_usca": 1,
    }
    ids = [_source_id(vector) for vector in VECTORS]
    assert len(set(ids)) == len(ids)


def test_vectors_match_reference_file() -> None:
    """The embedded copy equals the reference file's GPP entries."""
    path = next((candidate for candidate in REFERENCE_FILES if candidate.is_file()), None)
    if path is None:
        pytest.skip("consent_vectors.json is not available here")
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert [entry for entry in entries if entry["kind"] in GPP_KINDS] == VECTORS


# --- a test-side encoder, from consent.md §2.1 -------------------------------------------------

_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _b64(bits: str) -> str:
    """Bits, right-padded with zeros to a multiple of 6, one base64url character per 6."""
    bits += "0" * (-len(bits) % 6)
    return "".join(_B64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _fib(number: int) -> str:
    """Fibonacci code: Zeckendorf bits for 1, 2, 3, 5, … least significant first, then 1."""
    weights = [1, 2]
    while weights[-1] <= number:
        weights.append(weights[-1] + weights[-2])
    bits = ["0"] * len(weights)
    for index in reversed(range(len(weights))):
        if weights[index] <= number:
            bits[index] = "1"
            number -= weights[index]
    return "".join(bits).rstrip("0") + "1"


def _header(ids: Sequence[int]) -> str:
    """Type 3, Version 1, and ``ids`` as a Range(Fibonacci), consecutive ids as groups."""
    runs: list[tuple[int, int]] = []
    for section_id in sorted(ids):
        if runs and section_id == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], section_id)
        else:
            runs.append((section_id, section_id))
    bits = f"{3:06b}{1:06b}{len(runs):012b}"
    last = 0
    for start, end in runs:
        bits += (
            f"0{_fib(start - last)}"
            if start == end
            else f"1{_fib(start - last)}{_fib(end - start)}"
        )
        last = end
    return _b64(bits)


def _gpp(sections: dict[int, str]) -> str:
    return "~".join([_header(list(sections)), *(sections[key] for key in sorted(sections))])


def _core(version: int, values: Sequence[int]) -> str:
    """A US section core: Version Int(6), then Int(2) fields."""
    return _b64(f"{version:06b}" + "".join(f"{value:02b}" for value in values))


GPC_TRUE, GPC_FALSE = _b64("011"), _b64("010")


def _usnat(
    *,
    notices: Sequence[int] = (1, 1, 1, 1, 1, 1),
    opt_outs: Sequence[int] = (2, 2, 2),
    sensitive: Sequence[int] = (0,) * 12,
    child: Sequence[int] = (0, 0),
    tail: Sequence[int] = (0, 1, 2, 1),
    gpc: str | None = None,
    version: int = 1,
) -> str:
    """A usnat section; ``tail`` is PersonalDataConsents and the three MSPA fields."""
    core = _core(version, [*notices, *opt_outs, *sensitive, *child, *tail])
    return core if gpc is None else f"{core}.{gpc}"


def _usca(
    *,
    notices: Sequence[int] = (1, 1, 1),
    opt_outs: Sequence[int] = (2, 2),
    sensitive: Sequence[int] = (0,) * 9,
    child: Sequence[int] = (0, 0),
    gpc: str | None = None,
) -> str:
    core = _core(1, [*notices, *opt_outs, *sensitive, *child, 0, 1, 2, 1])
    return core if gpc is None else f"{core}.{gpc}"


def _usva(*, notices: Sequence[int] = (1, 1, 1), opt_outs: Sequence[int] = (2, 2)) -> str:
    return _core(1, [*notices, *opt_outs, *(0,) * 8, 0, 1, 2, 1])


def test_encoder_matches_the_spec_examples() -> None:
    """The test encoder reproduces consent.md §2.1's Fibonacci table, range and headers."""
    assert [_fib(n) for n in range(1, 8)] == [
        "11",
        "011",
        "0011",
        "1011",
        "00011",
        "10011",
        "01011",
    ]
    range_bits = "000000000010" + "0" + "0011" + "1" + "011" + "0011"
    assert _b64(f"{3:06b}{1:06b}{range_bits}") == _header([3, 5, 6, 7, 8])
    assert _header([2]) == "DBABM"
    assert _header([2, 6]) == "DBACNY"
    assert _header([5, 6]) == "DBABjw"
    assert _gpp({7: "BVVqAAEABCA.QA"}).startswith("DBABL")


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=400), max_size=24))
def test_header_round_trip(ids: set[int]) -> None:
    """Any sorted id list, grouped or not, reads back exactly from its header."""
    assert decode_header(_header(sorted(ids))) == tuple(sorted(ids))


# --- decoding rules ------------------------------------------------------------------------------


def _section(text: str, section_id: int) -> UsSection:
    result = decode(_gpp({section_id: text}))
    assert isinstance(result, GppString), result
    section = result.present.us_section(section_id)
    assert section is not None
    return section


@pytest.mark.parametrize(
    ("notices", "opt_outs", "expected"),
    [
        # SaleOptOut / SharingOptOut / TargetedAdvertisingOptOut: 1 opts out, 2 does not.
        ((1, 1, 1, 1, 1, 1), (2, 2, 2), (False, False, False)),
        ((1, 1, 1, 1, 1, 1), (1, 2, 2), (True, False, False)),
        ((1, 1, 1, 1, 1, 1), (2, 1, 2), (False, True, False)),
        ((1, 1, 1, 1, 1, 1), (2, 2, 1), (False, False, True)),
        # 0: the business does not sell / share / target, so there is nothing to opt out of.
        ((0, 0, 0, 0, 0, 0), (0, 0, 0), (False, False, False)),
        # Notice not provided (2): the MSPA requires the opt-out to read 1; deny beats grant.
        ((1, 2, 1, 1, 1, 1), (0, 2, 2), (True, False, False)),
        ((1, 1, 2, 1, 1, 1), (2, 2, 2), (False, True, False)),
        ((1, 1, 1, 2, 1, 1), (2, 2, 0), (False, False, True)),
    ],
)
def test_usnat_opt_outs(
    notices: tuple[int, ...], opt_outs: tuple[int, ...], expected: tuple[bool, bool, bool]
) -> None:
    """The derived opt-outs follow consent.md §7.1, tightened where a notice was missing."""
    section = _section(_usnat(notices=notices, opt_outs=opt_outs), 7)
    got = (section.sale_opt_out, section.sharing_opt_out, section.targeted_advertising_opt_out)
    assert got == expected
    assert section.opt_out is any(expected)
    result = decode(_gpp({7: _usnat(notices=notices, opt_outs=opt_outs)}))
    assert isinstance(result, GppString)
    assert result.us_opt_out() is any(expected)


def test_gpc_sub_section() -> None:
    """``.Y`` is GPC true and an opt-out by itself; ``.Q`` false; none reads false."""
    assert GPC_TRUE == "Y" and GPC_FALSE == "Q"
    on = _section(_usnat(gpc=GPC_TRUE), 7)
    off = _section(_usnat(gpc=GPC_FALSE), 7)
    absent = _section(_usnat(), 7)
    assert (on.gpc, on.gpc_present, on.opt_out) == (True, True, True)
    assert (off.gpc, off.gpc_present, off.opt_out) == (False, True, False)
    assert (absent.gpc, absent.gpc_present, absent.opt_out) == (False, False, False)
    result = decode(_gpp({7: _usnat(gpc=GPC_TRUE)}))
    assert isinstance(result, GppString)
    assert result.present.gpc and result.us_opt_out()


def test_usca_and_usva_fields() -> None:
    """usca has sale and sharing opt-outs, usva sale and targeted ads; absent fields are None."""
    usca = _section(_usca(opt_outs=(2, 1), child=(0, 1)), 8)
    assert (usca.sale_opt_out, usca.sharing_opt_out, usca.targeted_advertising_opt_out) == (
        False,
        True,
        False,
    )
    assert usca.targeted_advertising_opt_out_code is None and usca.sharing_notice is None
    assert usca.known_child
    usva = _section(_usva(opt_outs=(2, 1)), 9)
    assert (usva.sale_opt_out, usva.sharing_opt_out, usva.targeted_advertising_opt_out) == (
        False,
        False,
        True,
    )
    assert usva.sharing_opt_out_code is None and usva.personal_data_consents is None
    assert usva.known_child_sensitive_data_consents == (0,)
    assert not usva.gpc_present


def test_known_child_sensitive_consent_and_mspa() -> None:
    """Known child = any entry 1; sensitive data only on 2; MSPA covered only on 1."""
    section = _section(_usnat(sensitive=(2, 1, 0, *(0,) * 9), child=(2, 0), tail=(0, 0, 0, 0)), 7)
    assert not section.known_child
    assert section.sensitive_consent == (True, False, False, *(False,) * 9)
    assert not section.mspa_covered
    child = _section(_usnat(child=(2, 1), tail=(0, 1, 0, 0)), 7)
    assert child.known_child and child.mspa_covered
    result = decode(_gpp({7: _usnat(child=(0, 1))}))
    assert isinstance(result, GppString) and result.present.known_child


def test_usnat_layout_by_length() -> None:
    """Version 2 in 60 or 66 bits is read with the v1 layout and zero-extended (§6.3 D6)."""
    for core in ("CAAAAAABEQ", "CAAAAAABEQA"):
        section = _section(core, 7)
        assert section.version == 2
        assert section.sensitive_data_processing == (*(0,) * 11, 1, 0, 0, 0, 0)
        assert section.known_child_sensitive_data_consents == (0, 1, 0)
    v2 = _usnat(version=2, sensitive=(0,) * 15 + (2,), child=(0, 0, 1))
    assert len(v2) == 12
    section = _section(v2, 7)
    assert section.sensitive_consent[15] and section.known_child
    v1 = _section(_usnat(sensitive=(1,) * 12, child=(1, 2)), 7)
    assert v1.sensitive_data_processing == (1,) * 12
    assert v1.known_child_sensitive_data_consents == (1, 2)


def test_uspv1_section() -> None:
    """Section 6 reads like a US Privacy string; ``Y`` in position 3 is an opt-out."""
    result = decode(_gpp({6: "1NYN"}))
    assert isinstance(result, GppString)
    assert result.uspv1 == UspV1(1, "N", "Y", "N")
    assert result.uspv1.opted_out and result.uspv1.applies and result.us_opt_out()
    not_applicable = decode(_gpp({6: "1---"}))
    assert isinstance(not_applicable, GppString) and not_applicable.uspv1 is not None
    assert not not_applicable.uspv1.applies and not not_applicable.us_opt_out()


def test_undecoded_sections() -> None:
    """Sections without a layout are kept and reported; a US one counts as an opt-out."""
    text = _gpp({5: "BPSG_8APSG_8A", 10: "BVoYYQg", 40: "x", 7: _usnat(version=3)})
    result = decode(text)
    assert isinstance(result, GppString)
    undecoded = {section.section_id: section for section in result.undecoded}
    assert sorted(undecoded) == [5, 7, 10, 40]
    assert undecoded[5].prefix == "tcfcav1" and undecoded[40].prefix is None
    assert undecoded[7].reason == "no layout for this usnat version"
    assert undecoded[10].raw == "BVoYYQg"
    assert {section.reason for section in result.undecoded} <= KNOWN_UNDECODED
    assert result.us_sections == ()
    assert result.us_opt_out()
    canada_only = decode(text, applicable_sections=[5])
    assert isinstance(canada_only, GppString) and not canada_only.us_opt_out()


def test_raw_strings_stay_out_of_repr() -> None:
    """The TC string and undecoded sections are kept but never printed by ``repr``."""
    tc = "CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA"
    result = decode(_gpp({2: tc, 12: "BVaGGGCA"}))
    assert isinstance(result, GppString)
    assert result.tcfeuv2 == tc
    assert tc not in repr(result) and "BVaGGGCA" not in repr(result)


_TRUNCATED_V1 = "BVVqAAEAB"
_VALUE_3 = _core(1, [3] + [1] * 26)
_LONG_FIB = _b64(f"{3:06b}{1:06b}{1:012b}0" + "01" * 17 + "1")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "GPP string is empty"),
        ("D" * 65_537, "GPP string is too long"),
        ("~1YNN", "GPP header is empty"),
        ("DB+BMA~1YNN", "GPP header is not base64url"),
        ("DBABMA=~1YNN", "GPP header is not base64url"),
        (" DBABTA~1YNN", "GPP header is not base64url"),
        ("DBA", "GPP header is truncated"),
        ("DBAB", "GPP header is truncated"),
        ("CBABTA~1YNN", "not a GPP string: header type is not 3"),
        ("DCABTA~1YNN", "unsupported GPP header version"),
        ("DBABTAAAAA~1YNN", "GPP header is longer than its fields"),
        (_LONG_FIB + "~x", "GPP header has an out-of-range section id"),
        ("DBABTA", "number of sections does not match the header"),
        ("DBABTA~1YNN~1YNN", "number of sections does not match the header"),
        ("DBACNY~1YNN", "number of sections does not match the header"),
        ("DBACNY~~1YNN", "a GPP section is empty"),
        ("DBABM~C+SG", "tcfeuv2 section is not a base64url TC string"),
        ("DBABM~CPSG..YA", "tcfeuv2 section is not a base64url TC string"),
        ("DBABTA~1YN", "uspv1 section must be exactly 4 characters"),
        ("DBABTA~2YNN", "uspv1 section has an unsupported version"),
        ("DBABTA~1yNN", "uspv1 section has a flag that is not Y, N or - (upper case)"),
        ("DBABTA~1Y-N", "uspv1 opt-out of sale is '-' although the string says CCPA applies"),
        ("DBABLA~.QA", "usnat section is empty"),
        ("DBABLA~BVVq+AEABCA", "usnat section is not base64url"),
        ("DBABLA~" + _TRUNCATED_V1, "usnat section is truncated"),
        ("DBABLA~BVVqAAEABCAAAAA", "usnat section is longer than its fields"),
        ("DBABLA~" + _VALUE_3, "usnat section has a field value outside 0-2"),
        ("DBABLA~BVVqAAEABCA.QA.QA", "usnat section has more than one sub-section"),
        ("DBABLA~BVVqAAEABCA.", "usnat sub-section is empty"),
        ("DBABLA~BVVqAAEABCA.Q=", "usnat sub-section is not base64url"),
        ("DBABLA~BVVqAAEABCA.gA", "usnat sub-section is not a GPC sub-section"),
        ("DBABLA~BVVqAAEABCA.QAAAA", "usnat sub-section is longer than its fields"),
        ("DBABLA~CAAAVVVVA", "usnat section is truncated"),
        # A v2 core cut to 66 bits: read as v1 by the length rule, its last character is data.
        ("DBABLA~CAAAVVVVAFB", "usnat section is longer than its fields"),
        ("DBABBg~BVoYYZo", "usca section is truncated"),
        ("DBABBg~" + _usca() + ".wA", "usca sub-section is not a GPC sub-section"),
        (
            "DBACLMA~BVVqAAEABCA~BVoYYYI.QA",
            "usva section has a sub-section its layout does not define",
        ),
    ],
)
def test_rejects(text: str, reason: str) -> None:
    """Each defect makes the whole string an error, with a reason that does not echo it."""
    assert reason in KNOWN_REASONS
    result = decode(text)
    assert result == SignalError("gpp", reason)
    for part in re.split(r"[~.]", text):
        assert len(part) < 4 or part not in reason


def test_header_alone_is_bounded() -> None:
    """A header read alone may not expand a group into more ids than a count can hold."""
    huge_group = _b64(f"{3:06b}{1:06b}{1:012b}1{_fib(1)}{_fib(5000)}")
    assert decode_header(huge_group) == SignalError("gpp", "GPP header lists too many sections")
    assert decode(huge_group + "~1YNN") == SignalError(
        "gpp", "number of sections does not match the header"
    )
    assert decode_header(_header(range(1, 4096))) == tuple(range(1, 4096))


@pytest.mark.parametrize("value", [None, 7, b"DBABTA~1YNN", ["DBABTA", "1YNN"]])
def test_non_text_is_an_error(value: object) -> None:
    """A value that is not a string is reported, not raised."""
    assert decode(value) == SignalError("gpp", "GPP string is not text")  # type: ignore[arg-type]
    assert decode_header(value) == SignalError("gpp", "GPP header is not text")  # type: ignore[arg-type]


# --- applicable sections -------------------------------------------------------------------------

_TC = "CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAAAAAAAAAAA.IAAA.YAAAAAAAAAAA"
# tcfeuv2, uspv1 without opt-out, usnat without opt-out, usca with a sale opt-out.
_MIXED = _gpp({2: _TC, 6: "1YNN", 7: _usnat(gpc=GPC_FALSE), 8: _usca(opt_outs=(1, 2))})
_ALL = (2, 6, 7, 8)


@pytest.mark.parametrize(
    ("applicable", "ids", "opted_out", "trusted"),
    [
        (None, _ALL, True, True),
        ([7], (7,), False, True),
        ([8], (8,), True, True),
        ([6, 7], (6, 7), False, True),
        ((x for x in [7]), (7,), False, True),
        (range(7, 9), (7, 8), True, True),
        ([7, 7], (7,), False, True),
        ([-1], (), False, True),
        ([-1, -1], (), False, True),
        # Not trusted: every present section applies.
        ([0], _ALL, True, False),
        ([0, 7], _ALL, True, False),
        ([-1, 7], _ALL, True, False),
        ([-2], _ALL, True, False),
        ([9], _ALL, True, False),
        ([7, 9], _ALL, True, False),
        ([], _ALL, True, False),
        (["7"], _ALL, True, False),
        ([True], _ALL, True, False),
        ([7.0], _ALL, True, False),
        (7, _ALL, True, False),
        (list(range(1, 100)), _ALL, True, False),
    ],
)
def test_applicable_sections(
    applicable: Any, ids: tuple[int, ...], opted_out: bool, trusted: bool
) -> None:
    """gpp_sid selects the sections in force; -1 is none; anything doubtful means all."""
    result = decode(_MIXED, applicable)
    assert isinstance(result, GppString)
    assert result.section_ids == _ALL
    assert result.applicable.ids == ids
    assert result.us_opt_out() is opted_out
    assert result.us_opt_out(all_present=True)
    assert (result.applicable.tcfeuv2 is not None) is (2 in ids)
    assert (result.applicable.uspv1 is not None) is (6 in ids)
    assert tuple(section.section_id for section in result.applicable.us) == tuple(
        section_id for section_id in ids if section_id in (7, 8)
    )
    if trusted:
        assert result.problems == ()
    else:
        assert len(result.problems) == 1 and result.problems[0].endswith(_EVERY_SECTION)


def test_opt_outs_name_each_kind_and_where() -> None:
    """opt_outs maps each opt-out kind to the first applicable section expressing it."""
    text = _gpp(
        {
            6: "1NYN",
            7: _usnat(opt_outs=(2, 1, 2), child=(1, 0)),
            8: _usca(gpc=GPC_TRUE),
            10: "BVoYYQg",
        }
    )
    every = decode(text)
    assert isinstance(every, GppString)
    assert every.opt_outs() == {
        "sale": "section uspv1",
        "sharing": "section usnat",
        "known_child": "section usnat",
        "targeted_advertising": "section usca GPC",
    }
    usnat = decode(text, [7])
    assert isinstance(usnat, GppString)
    assert usnat.opt_outs() == {"sharing": "section usnat", "known_child": "section usnat"}
    assert usnat.opt_outs(all_present=True) == every.opt_outs()
    colorado = decode(text, [10])
    assert isinstance(colorado, GppString)
    assert colorado.opt_outs() == dict.fromkeys(
        ("sale", "sharing", "targeted_advertising", "known_child"), "section usco (not decoded)"
    )
    none = decode(text, [-1])
    assert isinstance(none, GppString)
    assert none.opt_outs() == {} and not none.us_opt_out()
    quiet = decode(_gpp({7: _usnat(gpc=GPC_FALSE)}))
    assert isinstance(quiet, GppString) and quiet.opt_outs() == {}


def test_applicable_raw_signals() -> None:
    """The TC and US Privacy strings in force are handed over as text for their decoders."""
    every = decode(_MIXED)
    assert isinstance(every, GppString)
    assert every.applicable_ids == _ALL
    assert every.applicable_tcfeuv2 == _TC
    assert every.applicable_uspv1 == "1YNN"
    usnat = decode(_MIXED, [7])
    assert isinstance(usnat, GppString)
    assert usnat.applicable_ids == (7,)
    assert usnat.applicable_tcfeuv2 is None and usnat.applicable_uspv1 is None
    assert usnat.tcfeuv2 == _TC and usnat.uspv1 == UspV1(1, "Y", "N", "N")


# --- properties ----------------------------------------------------------------------------------


def _assert_total(result: object) -> None:
    """A result is a GppString or a SignalError with one of the fixed reasons."""
    if isinstance(result, SignalError):
        assert result.standard == "gpp"
        assert result.reason in KNOWN_REASONS, result.reason
        return
    assert isinstance(result, GppString)
    assert {section.reason for section in result.undecoded} <= KNOWN_UNDECODED
    assert all(problem.endswith(_EVERY_SECTION) for problem in result.problems)
    assert set(result.applicable.ids) <= set(result.section_ids)
    opt_outs = result.opt_outs()
    assert set(opt_outs) <= {"sale", "sharing", "targeted_advertising", "known_child"}
    assert all(_WHERE.fullmatch(where) for where in opt_outs.values())
    assert result.us_opt_out() is bool(set(opt_outs) - {"known_child"})


_GPP_ALPHABET = _B64 + "~."
_WHERE = re.compile(r"section [a-z0-9]+( GPC| \(not decoded\))?")
# Every string a vector says is valid, bare sections behind a header, by vector id.
VALID = {
    _source_id(vector): (
        f"{SECTION_HEADERS[vector['kind']]}~{vector['string']}"
        if vector["kind"] in SECTION_HEADERS
        else vector["string"]
    )
    for vector in VECTORS
    if vector["kind"] in ("gpp", *SECTION_HEADERS) and "error" not in vector["expected"]
}
VALID_STRINGS = list(VALID.values())


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    """No text makes the decoder raise; every reason is one of the fixed sentences."""
    _assert_total(decode(text))
    _assert_total(decode(text, [7]))
    header = decode_header(text)
    assert isinstance(header, tuple) or header.reason in KNOWN_REASONS


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_GPP_ALPHABET, max_size=60))
def test_never_raises_on_the_gpp_alphabet(text: str) -> None:
    """Strings over base64url, ``~`` and ``.`` never make the decoder raise."""
    _assert_total(decode(text))
    header = decode_header(text.split("~")[0])
    assert isinstance(header, tuple) or header.reason in KNOWN_REASONS


@st.composite
def _after_a_valid_header(draw: st.DrawFn) -> tuple[str, list[int]]:
    ids = sorted(draw(st.sets(st.sampled_from([2, 5, 6, 7, 8, 9, 12, 40]), min_size=1, max_size=4)))
    sections = [
        draw(
            st.sampled_from(["1YNN", "1NYN", "BVVqAAEABCA.QA", "BVoYYZoI", "BVoYYYI", _TC])
            | st.text(alphabet=_B64 + ".", min_size=1, max_size=20)
        )
        for _ in ids
    ]
    return "~".join([_header(ids), *sections]), ids


@settings(max_examples=300, deadline=None)
@given(_after_a_valid_header())
def test_never_raises_after_a_valid_header(case: tuple[str, list[int]]) -> None:
    """Arbitrary sections behind a valid header: an error, or exactly the header's ids."""
    text, ids = case
    result = decode(text)
    _assert_total(result)
    if isinstance(result, GppString):
        assert list(result.section_ids) == ids


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID_STRINGS), st.integers(min_value=0), st.sampled_from(_GPP_ALPHABET))
def test_never_raises_on_a_changed_character(text: str, where: int, char: str) -> None:
    """Any one character of a valid string replaced: still no raise."""
    where %= len(text)
    _assert_total(decode(text[:where] + char + text[where + 1 :]))


@settings(max_examples=200, deadline=None)
@given(
    st.none()
    | st.lists(st.integers(min_value=-3, max_value=45), max_size=6)
    | st.lists(
        st.integers() | st.text(max_size=3) | st.booleans() | st.floats() | st.none(), max_size=6
    )
)
def test_never_raises_on_any_applicable_sections(applicable: list[Any] | None) -> None:
    """Whatever gpp_sid holds, the string still decodes; doubt widens to every section."""
    result = decode(_MIXED, applicable)
    _assert_total(result)
    assert isinstance(result, GppString)
    if result.problems:
        assert result.applicable == result.present


def _opt_outs(result: GppString) -> tuple[object, ...]:
    """The opt-out flags other than GPC, section by section."""
    usp = result.uspv1.opted_out if result.uspv1 else None
    sections = tuple(
        (s.section_id, s.sale_opt_out, s.sharing_opt_out, s.targeted_advertising_opt_out)
        for s in result.us_sections
    )
    undecoded = tuple(section.section_id for section in result.undecoded)
    return usp, sections, undecoded


@pytest.mark.parametrize("text", VALID_STRINGS, ids=list(VALID))
def test_truncation_never_silently_drops_an_opt_out(text: str) -> None:
    """Every prefix of a valid string is an error or keeps the full string's opt-outs.

    Sale, sharing, targeted-ads and uspv1 opt-outs are always kept. GPC is kept unless the
    prefix cut off a section's whole GPC sub-section: a string without one is valid (LiveRamp
    reads it as GPC false), so that prefix is a valid string, and the format cannot tell it
    apart. The request's own Sec-GPC header is the independent signal for that case.
    """
    full = decode(text)
    assert isinstance(full, GppString)
    for cut in range(len(text)):
        got = decode(text[:cut])
        _assert_total(got)
        if isinstance(got, SignalError):
            continue
        assert got.section_ids == full.section_ids
        assert _opt_outs(got) == _opt_outs(full)
        lost_gpc = False
        for whole in full.us_sections:
            part = got.present.us_section(whole.section_id)
            assert part is not None
            if part.gpc != whole.gpc:
                assert whole.gpc_present and not part.gpc_present
                lost_gpc = True
        if got.us_opt_out() != full.us_opt_out():
            assert lost_gpc and full.us_opt_out()


def test_format_limits_under_truncation() -> None:
    """The two cases the format itself cannot detect, pinned so a change is noticed."""
    # A GPC sub-section cut off whole: the rest is a valid string with GPC false.
    full = decode("DBABLA~BVVqAAEABCA.YA")
    cut = decode("DBABLA~BVVqAAEABCA")
    assert isinstance(full, GppString) and isinstance(cut, GppString)
    assert full.us_opt_out() and not cut.us_opt_out()
    # A v2 core cut to 60 bits is read with the v1 layout (the length rule), so the fields
    # after the first 12 sensitive-data entries are read from other bits.
    v2 = _section("CAAAAAAAAQRA", 7)
    v2_cut = _section("CAAAAAAAAQ", 7)
    assert v2.known_child and not v2_cut.known_child
    assert (v2.sale_opt_out, v2.sharing_opt_out) == (v2_cut.sale_opt_out, v2_cut.sharing_opt_out)
