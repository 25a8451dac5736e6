"""Who gets which email in a batch: the pure decision the member pass makes before it
compares (sync.emails), on rows and owners as the store reads them."""

from __future__ import annotations

from scimgate.mapping.mapper import Mapped
from scimgate.store.sync_batches import MemberOwner, StagedRow
from scimgate.sync.changes import MemberState
from scimgate.sync.emails import claim_emails, who, with_planned


def row(du_id: str, *, active: bool = True, member: MemberState | None = None) -> StagedRow:
    m = (member.id, member.email, member.name, member.status, member.source) if member else ()
    return StagedRow(du_id, "{}", 1, active, du_id, *(m or (None,) * 5), None)


def mapped(email: str | None) -> Mapped:
    return Mapped(fields={"email": email} if email else {})


def test_two_new_users_with_one_email_the_first_claims_it_the_second_conflicts():
    claims = claim_emails(
        [row("a"), row("b")], [mapped("X@example.com"), mapped("x@example.com")], {}
    )
    assert [t.row.id for t in claims.compare] == ["a"]
    assert [(c.row.id, c.email, c.other) for c in claims.conflicts] == [("b", "x@example.com", "a")]
    assert claims.others() == ["a"]


def test_a_new_user_links_to_the_manual_member_with_its_email():
    manual = MemberOwner("m1", "ann@example.com", "Ann", "active", "manual", None)
    claims = claim_emails([row("a")], [mapped("ann@example.com")], {"ann@example.com": manual})
    (t,) = claims.compare
    assert t.link and t.member == MemberState("m1", "ann@example.com", "Ann", "active", "manual")
    assert t.taken is None and claims.conflicts == []


def test_a_new_user_whose_email_another_directory_users_member_has_conflicts():
    other = MemberOwner("m1", "ann@example.com", "Ann", "active", "scim", "other")
    claims = claim_emails([row("a")], [mapped("ann@example.com")], {"ann@example.com": other})
    assert claims.compare == [] and [c.other for c in claims.conflicts] == ["other"]


def test_a_member_whose_new_email_someone_else_has_is_compared_with_the_email_taken():
    own = MemberState("m1", "old@example.com", "Ann", "active", "scim")
    other = MemberOwner("m2", "bob@example.com", "Bob", "active", "manual", None)
    claims = claim_emails(
        [row("a", member=own)], [mapped("bob@example.com")], {"bob@example.com": other}
    )
    (t,) = claims.compare
    assert t.member == own and t.taken == other and not t.link
    assert who(t.taken, {}) == "the member Bob (bob@example.com)"
    assert who("a", {"a": "Ann (ann)"}) == "directory user Ann (ann)"
    assert who("z", {}) == "directory user z"


def test_an_inactive_user_that_never_was_a_member_needs_nothing():
    claims = claim_emails([row("a", active=False)], [mapped("ann@example.com")], {})
    assert claims.compare == [] and claims.conflicts == [] and claims.unchanged == 1


def test_a_plan_sees_the_emails_earlier_batches_would_have_taken_or_freed():
    taken = MemberOwner("m9", "new@example.com", "New", "active", "scim", "b")
    owners = {"gone@example.com": MemberOwner("m1", "gone@example.com", "G", "active", "scim", "c")}
    planned = {"new@example.com": taken, "gone@example.com": None, "other@example.com": None}
    keys = {"new@example.com", "gone@example.com"}
    assert with_planned(owners, planned, keys) == {"new@example.com": taken}
