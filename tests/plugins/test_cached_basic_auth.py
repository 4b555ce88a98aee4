"""The API's basic-auth backend: what it remembers and for how long (plain functions), and that
Airflow runs with it (its module is what airflow.cfg names)."""

from __future__ import annotations

import configparser
import importlib

from rest_trigger_api.cached_basic_auth import VerifiedLogins, login_message

from rest_trigger_local.settings import PROJECT_DIR
from tests.support.clock import ManualClock


def test_a_verified_login_is_remembered_for_the_ttl_only() -> None:
    clock = ManualClock()
    logins = VerifiedLogins(ttl=60, clock=clock)
    logins.remember("admin", "s3cret", 7)
    assert logins.user_id("admin", "s3cret") == 7
    clock.now += 59.9
    assert logins.user_id("admin", "s3cret") == 7
    clock.now += 0.2
    assert logins.user_id("admin", "s3cret") is None
    assert len(logins) == 0  # the expired entry is dropped


def test_only_the_exact_pair_matches() -> None:
    logins = VerifiedLogins()
    logins.remember("admin", "s3cret", 7)
    assert logins.user_id("admin", "wrong") is None
    assert logins.user_id("other", "s3cret") is None
    assert logins.user_id("admin\0s3", "cret") is None  # the separator cannot be forged
    assert logins.user_id("admin", "s3cret ") is None


def test_the_encoding_names_one_pair_whatever_the_characters() -> None:
    """A NUL between username and password used to make these two pairs one message."""
    assert login_message("a\0b", "c") != login_message("a", "b\0c")
    logins = VerifiedLogins()
    logins.remember("a\0b", "c", 1)
    assert logins.user_id("a", "b\0c") is None
    assert logins.user_id("a\0b", "c") == 1
    # Lengths are counted in bytes, so multi-byte characters cannot shift the boundary either.
    assert login_message("é", "x") != login_message("\xc3", "\xa9x")
    assert login_message("ab", "") != login_message("a", "b")


def test_neither_password_nor_a_portable_hash_is_kept() -> None:
    one, two = VerifiedLogins(), VerifiedLogins()
    one.remember("admin", "s3cret", 7)
    two.remember("admin", "s3cret", 7)
    (key_one,) = one._entries
    (key_two,) = two._entries
    assert b"s3cret" not in key_one
    assert key_one != key_two  # keyed per process: useless outside it


def test_size_is_bounded() -> None:
    clock = ManualClock()
    logins = VerifiedLogins(ttl=60, max_entries=3, clock=clock)
    for n in range(10):
        logins.remember(f"user{n}", "pw", n)
        assert len(logins) <= 3
    assert logins.user_id("user9", "pw") == 9


def test_a_zero_ttl_remembers_nothing() -> None:
    logins = VerifiedLogins(ttl=0)
    logins.remember("admin", "s3cret", 7)
    assert logins.user_id("admin", "s3cret") is None


def test_airflow_cfg_names_this_backend_first() -> None:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(PROJECT_DIR / "airflow.cfg")
    assert (
        cfg["core"]["auth_manager"] == "rest_trigger_internals.auth_manager.RestTriggerAuthManager"
    )
    backends = [b.strip() for b in cfg["api"]["auth_backends"].split(",")]
    assert backends[0] == "rest_trigger_api.cached_basic_auth"
    module = importlib.import_module(backends[0])
    assert callable(module.init_app) and callable(module.requires_authentication)
