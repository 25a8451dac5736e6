"""Cheap argon2 parameters for the admins the tests create and sign in, in this process.

scimgate hashes console passwords with argon2-cffi's default PasswordHasher (64 MiB, three
passes: about a tenth of a CPU second per hash or check, on purpose). The suite creates and
signs in admins hundreds of times; what it checks is what a hash and a check decide, which
the parameters do not change, so this process hashes with the smallest ones argon2 allows.
Imported by tests/conftest.py before anything imports scimgate (which takes
`argon2.PasswordHasher` when it is imported). Processes the tests start keep the defaults,
and verify any hash: its parameters are written in it.
"""

from __future__ import annotations

from typing import Any

import argon2


class QuickPasswordHasher(argon2.PasswordHasher):
    """argon2id with one pass over 1 MiB, one lane."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and not kwargs:
            kwargs = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
        super().__init__(*args, **kwargs)


argon2.PasswordHasher = QuickPasswordHasher  # type: ignore[misc]
