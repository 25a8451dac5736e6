"""The workload: Microsoft Entra ID-shaped users, departments and groups."""

from __future__ import annotations

import random
import urllib.parse
import uuid

from harness.client import jdumps

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


FIRST = [
    "Adele",
    "Alex",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Amara",
    "Bjorn",
    "Chen",
    "Dana",
]


LAST = [
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Mueller",
    "Langer",
    "Lanier",
    "Sherman",
    "Gu",
    "Holloway",
    "Robinson",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Okafor",
    "Lindqvist",
    "Wei",
    "Scully",
]


DEPTS = [
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Legal",
    "Operations",
    "Research",
    "Support",
]


class Population:
    """The users of the workload, the same for both servers (index-aligned)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ext: list[str] = []
        self.upn: list[str] = []

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ensure(self, n: int) -> None:
        while len(self.ext) < n:
            i = len(self.ext)
            self.ext.append(self.guid())
            first, last = FIRST[i % 20], LAST[(i // 20) % 20]
            self.upn.append(f"{first}.{last}.{i}@contoso.onmicrosoft.com".lower())

    def user_body(self, i: int) -> bytes:
        first, last = FIRST[i % 20], LAST[(i // 20) % 20]
        upn = self.upn[i]
        return jdumps(
            {
                "schemas": [CORE, ENT],
                "externalId": self.ext[i],
                "userName": upn,
                "active": True,
                "displayName": f"{first} {last}",
                "emails": [{"primary": True, "type": "work", "value": upn}],
                "name": {"formatted": f"{first} {last}", "familyName": last, "givenName": first},
                ENT: {"department": DEPTS[i % len(DEPTS)], "employeeNumber": str(100000 + i)},
            }
        )


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def patch_members_body(member_ids: list[str]) -> bytes:
    return jdumps(
        {
            "schemas": [PATCHOP],
            "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": m} for m in member_ids]}
            ],
        }
    )
