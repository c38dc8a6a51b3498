"""The edges' thread setting: RIDGEVIZ_THREADS is honoured and validated."""

import os

import pytest
import torch

from ridgeviz.utils.threads import ENV_VAR, configure_threads


def test_default_is_one_thread_and_env_overrides(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(ENV_VAR, raising=False)
        assert configure_threads() == 1 and torch.get_num_threads() == 1
        n = min(2, os.cpu_count() or 1)
        monkeypatch.setenv(ENV_VAR, str(n))
        assert configure_threads() == n and torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("raw", ["0", "-1", "two", "", "100000", "1.5"])
def test_bad_values_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv(ENV_VAR, raw)
    with pytest.raises(ValueError, match=ENV_VAR):
        configure_threads()
