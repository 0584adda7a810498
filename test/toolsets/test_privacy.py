"""The privacy module and tool: every kind of redaction, the PII corpus
(pii_corpus/), card numbers whatever their spelling, no false redaction of
timestamps, consistent pseudonyms, the report, and argument errors.

Run: /usr/bin/python3 -m pytest test/toolsets/test_privacy.py
"""

import json
import pathlib
import re

import pytest

from toolcall import LOG_ANALYSIS, call, import_module

privacy = import_module(LOG_ANALYSIS, "privacy")
CORPUS = pathlib.Path(__file__).parent / "pii_corpus"
PSEUDONYM = re.compile(r"Person-[0-9a-f]{6}")


def corpus_lines(name):
    return [ln for ln in (CORPUS / name).read_text().splitlines()
            if ln and not ln.startswith("#")]


def cases():
    return [json.loads(ln) for ln in corpus_lines("cases.jsonl")]


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["in"][:40])
def test_corpus_case(case):
    res = privacy.scrub_all_pii(case["in"])
    assert PSEUDONYM.sub("<NAME>", res["text"]) == case["out"]
    assert res["redactions"] == case["counts"]
    assert res["total"] == sum(case["counts"].values())


@pytest.mark.parametrize("line", corpus_lines("cards.txt"))
def test_no_card_digit_survives(line):
    res = privacy.scrub_all_pii(line)
    assert not re.search(r"\d", res["text"]), res
    assert res["redactions"].get("card", 0) >= 1


@pytest.mark.parametrize("line", corpus_lines("timestamps.txt"))
def test_timestamps_are_not_redacted(line):
    res = privacy.scrub_all_pii(line)
    assert res["text"] == line and res["total"] == 0, res


def test_luhn_and_networks():
    assert privacy.luhn_ok("4111111111111111")
    assert not privacy.luhn_ok("4111111111111112")
    assert privacy.is_card_number("378282246310005")
    assert not privacy.is_card_number("1736935201123")      # epoch ms
    assert not privacy.is_card_number("4111111111111112")   # Luhn fails
    text = "card 4111111111111112 is no card"
    assert privacy.scrub_credit_cards(text) == text


def test_cards_run_before_phones():
    # the old failure: a 10-digit phone rule ate part of a card
    assert privacy.scrub_all_pii("4532015112830366")["text"] == "[CC_REDACTED]"
    out = privacy.scrub_all_pii("555-123-4567 4111 1111 1111 1111")["text"]
    assert out == "[PHONE_REDACTED] [CC_REDACTED]"


def test_pseudonyms_consistent_within_a_scrubber():
    s = privacy.Scrubber()
    a = s.scrub("Alice Smith called")
    b = s.scrub("then Alice  Smith left; Bob stayed")
    pa = PSEUDONYM.findall(a)
    pb = PSEUDONYM.findall(b)
    assert pa[0] == pb[0] and pb[1] != pa[0]
    assert "Alice" not in a + b and "Bob" not in b
    one = privacy.scrub_all_pii("Alice Smith and Alice Smith")["text"]
    assert len(set(PSEUDONYM.findall(one))) == 1
    # a new scrubber (another key) gives unlinkable pseudonyms
    assert privacy.Scrubber().pseudonym("Alice Smith") != s.pseudonym("Alice Smith")
    assert privacy.Scrubber(key="k").pseudonym("Bo") == privacy.Scrubber(key="k").pseudonym("bo")


def test_given_names_and_kinds():
    res = privacy.scrub_all_pii("ticket by zed quux and Zed Quux", names=["Zed Quux"])
    assert "zed" not in res["text"].lower() and res["redactions"] == {"name": 2}
    res = privacy.scrub_all_pii("a@example.com 10.0.0.1", kinds=["email"])
    assert res["text"] == "[EMAIL_REDACTED] 10.0.0.1"
    res = privacy.anonymize_names("Maria met a@example.com")
    assert res["text"].endswith("met a@example.com") and res["total"] == 1
    assert "mapping" not in res                # the originals never leave


def test_single_kind_functions_return_text():
    assert privacy.scrub_emails("x a@b.io y") == "x [EMAIL_REDACTED] y"
    assert privacy.scrub_phone_numbers("(555) 123-4567") == "[PHONE_REDACTED]"
    assert privacy.scrub_ssn("123-45-6789") == "[SSN_REDACTED]"
    assert privacy.scrub_ip_addresses("1.2.3.4 ::1") == "[IP_REDACTED] [IP_REDACTED]"
    assert privacy.scrub_secrets("Bearer abcdefghijkl") == "Bearer [TOKEN_REDACTED]"


def test_invalid_arguments():
    with pytest.raises(ValueError, match="kinds must be"):
        privacy.scrub_all_pii("x", kinds=["nope"])
    with pytest.raises(ValueError, match="kinds must be"):
        privacy.scrub_all_pii("x", kinds="email")
    with pytest.raises(ValueError, match="text must be a string"):
        privacy.scrub_all_pii(42)
    with pytest.raises(ValueError, match="names must be"):
        privacy.scrub_all_pii("x", names=[""])


def test_generated_logs_lose_their_pii(tmp_path):
    gen = import_module(LOG_ANALYSIS, "generate_logs")
    gen.generate(str(tmp_path), seed=7, size_mb=0.2)
    text = (tmp_path / "auth-service.log").read_text()[:50000]
    out = privacy.scrub_all_pii(text)["text"]
    assert "@" not in out and "eyJ" not in out
    assert not re.search(r"mcp_[0-9a-f]{16}_[0-9a-f]{64}", out)
    assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", out)
    # the timestamps stay
    assert out.count("2025-01-1") == text.count("2025-01-1")


# ---------------------------------------------------------------- the tool

def test_tool_default_function(tmp_path):
    r = call(LOG_ANALYSIS, "privacy", {"text": "mail bob@example.com"}, tmp_path)
    assert r.result == {"text": "mail [EMAIL_REDACTED]", "redactions": {"email": 1},
                        "total": 1}
    r = call(LOG_ANALYSIS, "privacy", {"function": "anonymize_names",
                                       "text": "Bob at bob@example.com"}, tmp_path)
    assert r.result["redactions"] == {"name": 1}


def test_tool_errors_are_sentences(tmp_path):
    r = call(LOG_ANALYSIS, "privacy", {"function": "_sub", "text": "x"}, tmp_path)
    assert "unknown privacy function" in r.error
    r = call(LOG_ANALYSIS, "privacy", {"text": "x", "kinds": ["bogus"]}, tmp_path)
    assert "kinds must be a list of" in r.error
    r = call(LOG_ANALYSIS, "privacy", {"text": "x", "colour": 1}, tmp_path)
    assert "unexpected keyword argument 'colour'" in r.error
