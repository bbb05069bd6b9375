"""Token parameters and backoff of the bridge client, without a network."""

import datetime as dt
import hashlib

import nacl.secret
import pytest

from locks.nuki.bridge import RetryPolicy, TokenMode, TokenSigner, encrypt_token, hash_token
from locks.nuki.bridge.tokens import format_ts

SPEC_HASH = "f52eb5ce382e356c4239f8fb4d0a87402bb95b7b3124f0762b806ad7d0d01cb6"


def test_hash_matches_the_spec_example():
    # Bridge HTTP API v1.13, section 3.2.1.
    assert hash_token("123456", "2019-03-05T01:06:53Z", 4711) == SPEC_HASH


def test_format_ts_is_utc_whole_seconds():
    when = dt.datetime(2019, 3, 5, 2, 6, 53, 999000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert format_ts(when) == "2019-03-05T01:06:53Z"
    assert format_ts(1551748013.7) == "2019-03-05T01:06:53Z"
    with pytest.raises(ValueError):
        format_ts(dt.datetime(2019, 3, 5))  # naive


def test_encrypted_token_opens_with_sha256_of_the_token():
    nonce = bytes(range(24))
    ctoken = encrypt_token("123456", "2019-03-05T01:06:53Z", 4711, nonce)
    box = nacl.secret.SecretBox(hashlib.sha256(b"123456").digest())
    assert box.decrypt(bytes.fromhex(ctoken), nonce) == b"2019-03-05T01:06:53Z,4711"
    # The nonce travels separately: ctoken is MAC + ciphertext only.
    assert len(bytes.fromhex(ctoken)) == box.MACBYTES + len("2019-03-05T01:06:53Z,4711")


def test_signer_plain():
    assert TokenSigner("abc", TokenMode.PLAIN).params() == {"token": "abc"}


def test_signer_hashed_uses_clock_and_offset():
    signer = TokenSigner("123456", "hashed", clock=lambda: 1551748013.2, clock_offset=-60)
    params = signer.params()
    assert params["ts"] == "2019-03-05T01:05:53Z"
    assert params["hash"] == hash_token("123456", params["ts"], int(params["rnr"]))
    assert 0 <= int(params["rnr"]) <= 65535
    assert "token" not in params


def test_signer_encrypted_is_the_default_and_never_sends_the_token():
    signer = TokenSigner("123456", clock=lambda: 1551748013.0)
    params = signer.params()
    assert set(params) == {"ctoken", "nonce"}
    nonce = bytes.fromhex(params["nonce"])
    assert len(nonce) == 24
    box = nacl.secret.SecretBox(hashlib.sha256(b"123456").digest())
    ts, rnr = box.decrypt(bytes.fromhex(params["ctoken"]), nonce).decode().split(",")
    assert ts == "2019-03-05T01:06:53Z"
    assert 0 <= int(rnr) <= 65535
    assert "123456" not in str(params)


def test_signer_never_repeats_a_random_number_within_a_second():
    signer = TokenSigner("t", "hashed", clock=lambda: 1551748013.0)
    pairs = [(p["ts"], p["rnr"]) for p in (signer.params() for _ in range(3000))]
    assert len(set(pairs)) == len(pairs)


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0, jitter=0.5)
    for n, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay(n) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling * 0.2  # jittered, not constant
