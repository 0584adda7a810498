"""Scrub personal data and secrets from text, with a report of what went.

Kinds, in the order they are applied (each replaced by a marker without
digits, so a later kind can never match part of an earlier one):

  jwt       JSON Web Tokens (eyJ...eyJ...sig)              [JWT_REDACTED]
  api_key   mcp_<id>_<secret> (the id stays: it is public), sk-/sk_live_,
            AKIA..., ghp_..., xox?-..., AIza..., and key=value secrets
                                                           [API_KEY_REDACTED]
  bearer    "Bearer <token>" and "Basic <credentials>"      [TOKEN_REDACTED]
  email     addresses                                      [EMAIL_REDACTED]
  card      payment card numbers: 13-19 digits with any spaces or dashes,
            a known network prefix and a valid Luhn check  [CC_REDACTED]
  ssn       US social security numbers (123-45-6789, or 9 digits after
            "SSN")                                         [SSN_REDACTED]
  ipv6      IPv6 addresses (validated)                     [IP_REDACTED]
  ipv4      IPv4 addresses (validated)                     [IP_REDACTED]
  phone     +<country> numbers and (555) 123-4567 / 555-123-4567 forms
                                                           [PHONE_REDACTED]
  name      person names: those you pass, common first names (with the
            following surname), and Mr/Ms/Dr Surname; each becomes a
            pseudonym "Person-xxxxxx", the same for the same name within
            one Scrubber (HMAC-SHA256 with a per-Scrubber random key).

Timestamps (ISO 8601, syslog, epoch seconds or ms) are never touched: bare
digit runs count only as cards (prefix + Luhn) or, after "SSN", as SSNs.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections import Counter

KINDS = ("jwt", "api_key", "bearer", "email", "card", "ssn", "ipv6", "ipv4",
         "phone", "name")
MARKERS = {"jwt": "[JWT_REDACTED]", "api_key": "[API_KEY_REDACTED]",
           "bearer": "[TOKEN_REDACTED]", "email": "[EMAIL_REDACTED]",
           "card": "[CC_REDACTED]", "ssn": "[SSN_REDACTED]",
           "ipv6": "[IP_REDACTED]", "ipv4": "[IP_REDACTED]",
           "phone": "[PHONE_REDACTED]"}
MAX_TEXT_CHARS = 1_000_000

_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_MCP_KEY_RE = re.compile(r"\b(mcp_[0-9a-f]{16}_)[0-9a-f]{64}\b")
_VENDOR_KEY_RE = re.compile(
    r"\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35})")
_KV_SECRET_RE = re.compile(
    r"(?i)\b((?:api[_-]?key|apikey|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret"
    r"|password|passwd|pwd|token|access[_-]?token|refresh[_-]?token)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]{4,})")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}")
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")
# digit groups joined by single spaces or dashes, not touching other digits
_CARD_RUN_RE = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*(?!\d)")
_SSN_RE = re.compile(
    r"(?<![\d-])(?!000|666|9\d\d)(\d{3})([- ])(?!00)\d{2}\2(?!0000)\d{4}(?![\d-])")
_SSN_CONTEXT_RE = re.compile(
    r"(?i)\b(ssn|social security(?: number)?)(\W{1,5})(?!000|666|9)\d{9}(?!\d)")
_IPV6_CANDIDATE_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|"
    r"\d{1,3}(?:\.\d{1,3}){3})?(?:%[\w.]+)?(?![\w:])")
_IPV4_RE = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)")
_PHONE_RES = (
    # international: +CC then 6-14 more digits in groups
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])"),
    # North American with separators: (555) 123-4567, 555-123-4567, 555.123.4567
    re.compile(r"(?<![\w.-])(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w]|[.-]\d)"),
)
_TITLE_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?\b")
# common given names that are not also ordinary words, months or days
FIRST_NAMES = frozenset("""
Aaron Abdul Adam Adrian Ahmed Aisha Alan Albert Alejandro Alex Alexander
Alexandra Ali Alice Alicia Amanda Amara Amir Amy Ana Andrea Andrew Angela
Anna Anne Anthony Antonio Arjun Ashley Barbara Ben Benjamin Beth Bob Brandon
Brian Bruno Carlos Carmen Carol Caroline Catherine Charles Charlotte Chen
Chris Christian Christina Christopher Claire Claudia Daniel Daniela David
Deborah Diana Diego Dmitri Donald Dorothy Edward Elena Elizabeth Ella Emily
Emma Eric Erik Eva Fatima Felix Fernando Francesca Francisco Gabriel George
Giulia Grace Hannah Hans Harry Helen Henry Hiroshi Ibrahim Igor Ingrid Isabel
Isabella Ivan James Jane Jason Javier Jennifer Jessica Joan John Jonathan
Jorge Jose Joseph Joshua Juan Julia Julian Karen Katherine Kenji Kevin
Kimberly Kwame Laura Lauren Leila Linda Lisa Lucas Lucia Lukas Luis Maria
Marie Marta Martin Mary Mateo Matthew Mei Michael Michelle Miguel Mohammed
Muhammad Nadia Nancy Natalia Nathan Nicholas Nicole Noah Olga Oliver Olivia
Omar Oscar Pablo Patricia Paul Pedro Peter Pierre Priya Rachel Rahul Raj
Rebecca Richard Robert Roberto Ryan Samuel Sandra Sara Sarah Sean Sergei
Sofia Sophia Stephanie Steven Susan Takeshi Thomas Timothy Tom Valentina
Victoria Wei William Yuki Yusuf Zoe
""".split())
_NAME_RE = re.compile(
    r"\b(" + "|".join(sorted(FIRST_NAMES, key=len, reverse=True)) + r")"
    r"(?:\s+(?!(?:" + "|".join(("The", "And", "From", "For", "With", "At", "In",
                                 "On", "To", "Of", "Is", "Was")) + r")\b)"
    r"[A-Z][a-zà-ÿ]+(?:[-'][A-Z][a-zà-ÿ]+)?)?\b")


def luhn_ok(digits):
    """True if the digit string passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network(digits):
    """The card network a 13-19 digit number's prefix and length fit, or
    None (so epoch milliseconds, order numbers etc. are not cards)."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or p2 == 65 or 644 <= int(digits[:3]) <= 649
            or p2 == 62) and 16 <= n <= 19:
        return "discover/unionpay"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (p2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and 14 <= n <= 19:
        return "diners"
    if (p2 in (50, 56, 57, 58) or 60 <= p2 <= 69) and 12 <= n <= 19:
        return "maestro"
    return None


def is_card_number(digits):
    return (13 <= len(digits) <= 19 and digits.isdigit()
            and card_network(digits) is not None and luhn_ok(digits))


class Scrubber:
    """Scrubs texts and counts what it redacted. Names get the same
    pseudonym in every text one Scrubber handles (keep one Scrubber for a
    whole job; a new one, or another key, gives unlinkable pseudonyms)."""

    def __init__(self, kinds=None, names=None, key=None):
        kinds = KINDS if kinds is None else kinds
        if isinstance(kinds, str) or not all(k in KINDS for k in kinds):
            raise ValueError(f"kinds must be a list of: {', '.join(KINDS)}")
        if names is not None and (isinstance(names, str) or not all(
                isinstance(n, str) and n.strip() for n in names)):
            raise ValueError("names must be a list of non-empty strings")
        self.kinds = [k for k in KINDS if k in kinds]
        self.counts = Counter()
        self._key = key.encode() if isinstance(key, str) else (
            key or secrets.token_bytes(32))
        self._names_re = None
        if names:
            alts = "|".join(re.escape(" ".join(n.split()))
                            for n in sorted(names, key=len, reverse=True))
            self._names_re = re.compile(r"(?i)(?<!\w)(?:" + alts + r")(?!\w)")

    # -- public ------------------------------------------------------------
    def scrub(self, text):
        """The text with every selected kind replaced."""
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text is longer than {MAX_TEXT_CHARS} characters")
        for kind in self.kinds:
            text = getattr(self, "_" + kind)(text)
        return text

    def pseudonym(self, name):
        """The pseudonym of a name (case and spacing do not matter)."""
        norm = " ".join(name.split()).casefold().encode()
        return "Person-" + hmac.new(self._key, norm, hashlib.sha256).hexdigest()[:6]

    def report(self):
        """Counts of redactions by kind, and their total."""
        return {"redactions": dict(self.counts), "total": sum(self.counts.values())}

    # -- one method per kind -----------------------------------------------
    def _sub(self, kind, rx, text, repl=None):
        def count(m):
            out = repl(m) if repl else MARKERS[kind]
            if out != m.group(0):
                self.counts[kind] += 1
            return out
        return rx.sub(count, text)

    def _jwt(self, text):
        return self._sub("jwt", _JWT_RE, text)

    def _api_key(self, text):
        text = self._sub("api_key", _MCP_KEY_RE, text,
                         lambda m: m.group(1) + MARKERS["api_key"])
        text = self._sub("api_key", _VENDOR_KEY_RE, text)
        return self._sub("api_key", _KV_SECRET_RE, text, lambda m: (
            m.group(0) if m.group(2).startswith("[") else
            m.group(1) + MARKERS["api_key"]))

    def _bearer(self, text):
        return self._sub("bearer", _BEARER_RE, text,
                         lambda m: m.group(1) + m.group(2) + MARKERS["bearer"])

    def _email(self, text):
        return self._sub("email", _EMAIL_RE, text)

    def _card(self, text):
        return self._sub("card", _CARD_RUN_RE, text, self._cards_in_run)

    def _cards_in_run(self, m):
        """Redacts every card number inside a run of digit groups: any
        consecutive groups whose digits form one, or any 13-19 digit window
        of one long group. Overlapping candidates are all covered, so no
        digit of a card survives whatever sits next to it."""
        run = m.group(0)
        groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", run)]
        covered = []
        for i in range(len(groups)):
            digits = ""
            for j in range(i, len(groups)):
                digits += run[groups[j][0]:groups[j][1]]
                if len(digits) > 19:
                    break
                if is_card_number(digits):
                    covered.append((groups[i][0], groups[j][1]))
            covered += self._cards_in_group(run, *groups[i])
        if not covered:
            return run
        spans = []
        for a, b in sorted(covered):
            if spans and a < spans[-1][1]:
                spans[-1] = (spans[-1][0], max(b, spans[-1][1]))
            else:
                spans.append((a, b))
        self.counts["card"] += len(spans) - 1   # _sub counts one
        out, pos = [], 0
        for a, b in spans:
            out += [run[pos:a], MARKERS["card"]]
            pos = b
        return "".join(out + [run[pos:]])

    @staticmethod
    def _cards_in_group(run, a, b):
        """Card numbers written without separators inside one long group."""
        if b - a <= 19:
            return []
        return [(k, k + n) for k in range(a, b - 12) for n in range(13, 20)
                if k + n <= b and is_card_number(run[k:k + n])]

    def _ssn(self, text):
        text = self._sub("ssn", _SSN_CONTEXT_RE, text,
                         lambda m: m.group(1) + m.group(2) + MARKERS["ssn"])
        return self._sub("ssn", _SSN_RE, text)

    def _ipv6(self, text):
        def repl(m):
            candidate = m.group(0).split("%")[0]
            try:
                ipaddress.IPv6Address(candidate)
            except ValueError:
                return m.group(0)
            return MARKERS["ipv6"]
        return self._sub("ipv6", _IPV6_CANDIDATE_RE, text, repl)

    def _ipv4(self, text):
        return self._sub("ipv4", _IPV4_RE, text)

    def _phone(self, text):
        def repl(m):
            digits = sum(c.isdigit() for c in m.group(0))
            return MARKERS["phone"] if 7 <= digits <= 15 else m.group(0)
        for rx in _PHONE_RES:
            text = self._sub("phone", rx, text, repl)
        return text

    def _name(self, text):
        repl = lambda m: self.pseudonym(m.group(0))  # noqa: E731
        if self._names_re is not None:
            text = self._sub("name", self._names_re, text, repl)
        text = self._sub("name", _TITLE_RE, text, repl)
        return self._sub("name", _NAME_RE, text, repl)


# ------------------------------------------------------------------ tools

def scrub_all_pii(text, kinds=None, names=None):
    """Scrub every kind (or only kinds) from text; names: extra person
    names to pseudonymise. Returns {"text", "redactions": {kind: n},
    "total"}."""
    s = Scrubber(kinds, names)
    return {"text": s.scrub(text), **s.report()}


def anonymize_names(text, names=None):
    """Replace person names by consistent pseudonyms (Person-xxxxxx);
    returns {"text", "redactions", "total"}. The mapping is not returned."""
    return scrub_all_pii(text, ["name"], names)


def scrub_emails(text):
    """Text with e-mail addresses replaced by [EMAIL_REDACTED]."""
    return Scrubber(["email"]).scrub(text)


def scrub_phone_numbers(text):
    """Text with phone numbers replaced by [PHONE_REDACTED]."""
    return Scrubber(["phone"]).scrub(text)


def scrub_ssn(text):
    """Text with US social security numbers replaced by [SSN_REDACTED]."""
    return Scrubber(["ssn"]).scrub(text)


def scrub_credit_cards(text):
    """Text with payment card numbers (Luhn-checked) replaced."""
    return Scrubber(["card"]).scrub(text)


def scrub_ip_addresses(text):
    """Text with IPv4 and IPv6 addresses replaced by [IP_REDACTED]."""
    return Scrubber(["ipv6", "ipv4"]).scrub(text)


def scrub_secrets(text):
    """Text with JWTs, API keys, key=value secrets and bearer tokens
    replaced."""
    return Scrubber(["jwt", "api_key", "bearer"]).scrub(text)
