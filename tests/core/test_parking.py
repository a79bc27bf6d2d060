from __future__ import annotations

import pytest

from explainmyxray.models.parking import park_module, restore_module


def test_park_and_restore_keep_the_weights_and_count_the_bytes():
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.BatchNorm1d(4))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    parked = park_module(module)
    expected = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    assert parked == expected
    restore_module(module, "cpu")
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
