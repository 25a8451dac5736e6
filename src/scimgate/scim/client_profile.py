"""An account's identity provider, guessed from the habits its SCIM traffic showed, and
the PATCH answer each client gets (RFC 7644 §3.5.2 lets the server choose).

Pure: the habits come in with their counts and first/last seen times (recorded per
account by provisioning/idp_profile.py), the guess and the answer come out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from scimgate.scim.client_habits import ENTRA, HABITS, IDP_NAMES, OKTA

RECENT = timedelta(days=30)  # habits not seen for this long before the newest one are history
_IDP_ONLY = 3  # a habit's weight when only one identity provider sends it


@dataclass(frozen=True, slots=True)
class HabitSeen:
    """One habit as recorded for an account."""

    code: str
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: str | None = None  # the User-Agent, for the agent habits


@dataclass(frozen=True)
class Profile:
    """What the account's traffic says about its identity provider."""

    idp: str | None  # ENTRA, OKTA, ... or None (unknown)
    confidence: str  # "high" (it names itself), "medium", "low", "none"
    since: datetime | None  # the first evidence of this identity provider
    entra_flag: (
        str | None
    )  # "with" / "without" (client_habits.WITH_FLAG...) for Entra when the traffic tells
    user_agent: str | None
    habits: list[HabitSeen] = field(default_factory=list)

    @property
    def decisive_idp(self) -> str | None:
        """The identity provider when the guess is good enough to act on (high or medium)."""
        return self.idp if self.confidence in ("high", "medium") else None

    @property
    def idp_name(self) -> str:
        return IDP_NAMES.get(self.idp or "", "Unknown")

    @property
    def headline(self) -> str:
        """ "Microsoft Entra ID (without aadOptscim062020 flag)", "Okta", "Unknown"."""
        if self.idp == ENTRA and self.entra_flag is not None:
            return f"{self.idp_name} ({self.entra_flag} aadOptscim062020 flag)"
        return self.idp_name


UNKNOWN = Profile(None, "none", None, None, None)


def guess(habits: list[HabitSeen]) -> Profile:
    """The identity provider the recent habits point to, with a confidence."""
    if not habits:
        return UNKNOWN
    newest = max(h.last_seen for h in habits)
    recent = [h for h in habits if h.code in HABITS and h.last_seen >= newest - RECENT]
    idp, confidence = _winner(recent)
    own = [h for h in recent if HABITS[h.code].idp == idp] if idp else []
    agent = _latest(h for h in own if HABITS[h.code].weight >= 10)
    return Profile(
        idp=idp,
        confidence=confidence,
        since=min(h.first_seen for h in own) if own else None,
        entra_flag=_entra_flag(recent) if idp == ENTRA else None,
        user_agent=agent.sample if agent else None,
        habits=sorted(habits, key=lambda h: (-h.last_seen.timestamp(), h.code)),
    )


def _winner(recent: list[HabitSeen]) -> tuple[str | None, str]:
    """The client that named itself last, else the one with the most specific habits:
    medium confidence (acted on) only with a habit that IdP alone sends; hints alone,
    however many, are low (an unknown client keeps the RFC's first choice)."""
    agent = _latest(h for h in recent if HABITS[h.code].weight >= 10)
    if agent is not None:
        return HABITS[agent.code].idp, "high"
    scores: dict[str, tuple[int, datetime]] = {}
    for h in recent:
        idp = HABITS[h.code].idp
        if idp is None:
            continue
        score, last = scores.get(idp, (0, h.last_seen))
        scores[idp] = (score + HABITS[h.code].weight, max(last, h.last_seen))
    if not scores:
        return None, "none"
    idp, _ = max(scores.items(), key=lambda item: item[1])
    own = any(HABITS[h.code].idp == idp and HABITS[h.code].weight >= _IDP_ONLY for h in recent)
    return idp, "medium" if own else "low"


def _latest(habits: Iterable[HabitSeen]) -> HabitSeen | None:
    found = list(habits)
    return max(found, key=lambda h: h.last_seen) if found else None


def _entra_flag(recent: list[HabitSeen]) -> str | None:
    """With or without aadOptscim062020: what the most recent telling habit says."""
    telling = _latest(h for h in recent if HABITS[h.code].entra_flag is not None)
    return HABITS[telling.code].entra_flag if telling else None


# ---- the PATCH answer ----------------------------------------------------------------------


class PatchAnswer(StrEnum):
    """How a successful PATCH is answered."""

    RESOURCE = "resource"  # 200 and the resource (RFC 7644 §3.5.2's first choice)
    WITHOUT_MEMBERS = "without_members"  # 200 and the group without `members` (Okta)
    NO_CONTENT = "no_content"  # 204 and the ETag (Entra, for Groups)


def patch_answer(kind: str, client: str | None, *, projected: bool) -> PatchAnswer:
    """The answer to a successful PATCH of a `kind` ("User"/"Group") from `client`.

    A request that names attributes/excludedAttributes gets the resource so projected,
    whoever sends it. Entra is told 204 for a Group ("Update to the group PATCH request
    should yield an HTTP 204 No Content"); Okta documents 200 with the group and
    `members` left out ("Okta doesn't require the list of users to be returned").
    Everyone else gets the RFC's first choice, 200 with the resource.
    """
    if kind != "Group" or projected:
        return PatchAnswer.RESOURCE
    if client == ENTRA:
        return PatchAnswer.NO_CONTENT
    if client == OKTA:
        return PatchAnswer.WITHOUT_MEMBERS
    return PatchAnswer.RESOURCE
