"""Passwords are stored as scrypt hashes and checked in constant time; tokens as digests."""

from __future__ import annotations

from app.passwords import check_password, check_token, hash_password, new_token, token_digest


def test_a_hashed_password_checks_and_says_nothing_of_the_password() -> None:
    stored = hash_password("hunter22 hunter22")
    assert stored.startswith("scrypt$16384$8$1$") and "hunter22" not in stored
    assert check_password("hunter22 hunter22", stored)
    assert not check_password("hunter22", stored)
    assert hash_password("same") != hash_password("same")  # salted


def test_a_plain_setting_is_compared_as_it_is_and_a_broken_hash_never_matches() -> None:
    assert check_password("letmein", "letmein") and not check_password("letmein!", "letmein")
    assert not check_password("x", "scrypt$broken")


def test_tokens_are_random_and_kept_as_digests() -> None:
    token = new_token()
    assert len(token) >= 32 and new_token() != token
    assert check_token(token, token_digest(token)) and not check_token(token + "x", token_digest(token))
