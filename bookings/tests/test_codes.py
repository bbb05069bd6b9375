"""Keypad codes follow Nuki's rules and ours; hypothesis checks the generator."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bookings.codes import DIGITS, NoCodeAvailable, draw_code, is_valid_code


def test_rules_by_example():
    assert is_valid_code("345678")
    assert not is_valid_code("123456")  # starts with 12
    assert not is_valid_code("345670")  # 0 is not on the keypad
    assert not is_valid_code("34567")  # too short
    assert not is_valid_code("3456789")  # too long
    assert not is_valid_code("344467")  # three equal digits in a row
    assert is_valid_code("344677")  # two in a row is fine
    assert not is_valid_code("343434")  # only two distinct digits
    assert not is_valid_code("34a678")


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10))
def test_drawn_codes_always_follow_every_rule(_):
    code = draw_code()
    assert len(code) == 6
    assert set(code) <= set(DIGITS)
    assert not code.startswith("12")
    assert len(set(code)) >= 3
    assert all(not (code[i] == code[i + 1] == code[i + 2]) for i in range(4))


@given(st.text(alphabet="0123456789", min_size=0, max_size=8))
def test_validator_agrees_with_the_rules(code):
    expected = (
        len(code) == 6
        and "0" not in code
        and not code.startswith("12")
        and len(set(code)) >= 3
        and all(not (code[i] == code[i + 1] == code[i + 2]) for i in range(len(code) - 2))
    )
    assert is_valid_code(code) == expected


@settings(max_examples=50)
@given(st.sets(st.sampled_from([draw_code() for _ in range(30)]), max_size=30))
def test_draw_avoids_codes_in_use(in_use):
    assert draw_code(avoid=in_use) not in in_use


def test_draw_gives_up_clearly_when_nothing_is_free():
    class Everything:
        def __contains__(self, item):
            return True

    try:
        draw_code(avoid=Everything(), attempts=20)
    except NoCodeAvailable:
        pass
    else:
        raise AssertionError("expected NoCodeAvailable")


def test_codes_are_spread_out():
    codes = {draw_code() for _ in range(2000)}
    assert len(codes) > 1990  # secrets-drawn: collisions are rare
    assert {c[0] for c in codes} == set(DIGITS)
