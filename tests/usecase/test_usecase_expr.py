import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeshield.usecase._expr import Expr, ExprError, evaluate, names, parse
from edgeshield.usecase._rules import mechanical_power_w

COLUMNS = {"a": np.array([1.0, 2.0, -3.0]), "b": np.array([4.0, 0.5, 2.0])}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + b * 2", COLUMNS["a"] + COLUMNS["b"] * 2),
        ("(a + b) * 2", (COLUMNS["a"] + COLUMNS["b"]) * 2),
        ("a - b - 1", COLUMNS["a"] - COLUMNS["b"] - 1),
        ("a / b / 2", COLUMNS["a"] / COLUMNS["b"] / 2),
        ("-a + +b", -COLUMNS["a"] + COLUMNS["b"]),
        ("a * 1.5e2", COLUMNS["a"] * 150.0),
        ("2 * pi", np.full(3, 2 * math.pi)),
        (".5 * a", COLUMNS["a"] * 0.5),
    ],
)
def test_evaluates_with_the_usual_precedence(text: str, expected: np.ndarray) -> None:
    assert np.array_equal(evaluate(parse(text), COLUMNS, 3), expected)


def test_power_expression_gives_the_same_bits_as_the_rule() -> None:
    torque, speed = np.array([42.8, 46.3, 3.8]), np.array([1551.0, 1408.0, 2874.0])
    tree = parse("torque_nm * rotational_speed_rpm * (2 * pi / 60) / 1000")
    got = evaluate(tree, {"torque_nm": torque, "rotational_speed_rpm": speed}, 3)
    assert np.array_equal(got, mechanical_power_w(torque, speed) / 1000.0)


def test_names_lists_each_column_once_in_first_use_order() -> None:
    assert names(parse("b * a + b - pi")) == ("b", "a")


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("", 0),
        ("   ", 0),
        ("a +", 3),
        ("(a", 2),
        ("a b", 2),
        ("a ** b", 3),
        ("a; b", 1),
        ('__import__("os")', 11),
        ("a.b", 1),
        ("a % b", 2),
        ("a)", 1),
        ("lambda: 1", 6),
    ],
)
def test_text_outside_the_language_is_refused_with_its_position(text: str, offset: int) -> None:
    with pytest.raises(ExprError) as caught:
        parse(text)
    assert caught.value.offset == offset


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_expr_error(text: str) -> None:
    outcome: Expr | ExprError
    try:
        outcome = parse(text)
    except ExprError as exc:
        outcome = exc
    if isinstance(outcome, ExprError):
        assert 0 <= outcome.offset <= len(text)
    else:
        assert all(name in text for name in names(outcome))


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        # each walk of the tree (names, evaluate) recursed once per level: thousands of
        # levels were a RecursionError (a segfault where a library raised the limit)
        (
            "(" * 5000 + "a" + ")" * 5000,
            "10001 tokens; a derived feature may have at most 128",
            128,
        ),
        ("a" + "+a" * 64, "129 tokens", 128),
        ("-" * 40 + "a", "nested more than 32 deep", 32),
        ("(" * 33 + "a" + ")" * 33, "nested more than 32 deep", 32),
    ],
)
def test_a_formula_too_long_or_too_deep_is_refused(text: str, message: str, offset: int) -> None:
    with pytest.raises(ExprError, match=message) as caught:
        parse(text)
    assert caught.value.offset == offset


def test_a_formula_at_the_bounds_still_parses() -> None:
    assert names(parse("(" * 32 + "a" + ")" * 32)) == ("a",)
    assert names(parse("a" + "+b" * 63)) == ("a", "b")
