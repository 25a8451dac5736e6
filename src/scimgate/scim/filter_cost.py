"""What a filter costs to answer, so one request cannot buy an unbounded scan with 150 `co` terms.

An equality or presence test on an indexed attribute is a seek; substring operators
(`co`, `sw`, `ew`) and ordering comparisons scan every candidate row of the account,
and each `or` branch adds a scan of its own. The cost is a sum over the terms; a
request whose filter costs more than the configured budget is refused up front with
`400 invalidFilter` (docs/operations.md), before any database work.
"""

from __future__ import annotations

from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)

from scimgate.scim.errors import InvalidFilterError

SCAN_OPERATORS = {CompareOperator.co, CompareOperator.sw, CompareOperator.ew}
ORDER_OPERATORS = {CompareOperator.gt, CompareOperator.ge, CompareOperator.lt, CompareOperator.le}
SEEK_COST = 1  # eq / pr: an index seek (or a cheap test on rows already found)
ORDER_COST = 3  # gt/ge/lt/le and ne: a range or a scan
SCAN_COST = 10  # co/sw/ew: a LIKE over every candidate row


def filter_cost(node: FilterNode) -> int:
    """The cost of a parsed filter: its terms weighted by how much database work they are."""
    cost = 0
    stack: list[object] = [node]
    while stack:  # iterative: a hostile filter may nest deeply
        item = stack.pop()
        if isinstance(item, LogicalExpr):
            stack.extend(item.terms)
        elif isinstance(item, Not):
            stack.append(item.expr)
        elif isinstance(item, ValuePath):
            cost += SEEK_COST
            if item.val_filter is not None:
                stack.append(item.val_filter)
        elif isinstance(item, Comparison):
            cost += _comparison_cost(item.op)
        elif isinstance(item, Present):
            cost += SEEK_COST
    return cost


def _comparison_cost(op: CompareOperator) -> int:
    if op in SCAN_OPERATORS:
        return SCAN_COST
    if op in ORDER_OPERATORS or op == CompareOperator.ne:
        return ORDER_COST
    return SEEK_COST


def check_filter_budget(node: FilterNode, budget: int) -> None:
    """Refuse a filter that costs more than `budget` (a clear error beats a slow timeout)."""
    cost = filter_cost(node)
    if cost > budget:
        raise InvalidFilterError(
            f"The filter is too expensive to answer: it costs {cost} and the limit is {budget} "
            f"(each co/sw/ew term costs {SCAN_COST}, gt/ge/lt/le/ne {ORDER_COST}, "
            f"eq/pr {SEEK_COST}); split it into several requests"
        )
