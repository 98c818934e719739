"""Device-agnostic layers: the two per-task LSTM forms agree, and no model creates a tensor on a
fixed device inside `forward` (checked on PyTorch's `meta` device: with no GPU here, this is how
the GPU path is tested; any CPU tensor created in `forward` meets a meta tensor and fails)."""

from __future__ import annotations

import pytest
import torch

from fathom_bench.models.layers import TaskLSTM, choose_lstm_form


@pytest.mark.parametrize("return_sequences", [False, True])
def test_batched_and_loop_lstm_forms_compute_the_same_function(one_torch_thread, return_sequences):
    torch.manual_seed(0)
    layer = TaskLSTM(3, 5, 7, return_sequences=return_sequences)
    x = torch.randn(3, 4, 6, 5, requires_grad=True)
    loop, batched = layer.forward_loop(x), layer.forward_batched(x)
    assert loop.shape == batched.shape == ((3, 4, 6, 7) if return_sequences else (3, 4, 7))
    torch.testing.assert_close(batched, loop, rtol=1e-5, atol=1e-6)
    g_loop = torch.autograd.grad(loop.square().sum(), [x, *layer.parameters()])
    g_batched = torch.autograd.grad(batched.square().sum(), [x, *layer.parameters()])
    for a, b in zip(g_loop, g_batched):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_cpu_form_is_fixed_and_other_devices_measure(one_torch_thread):
    layer = TaskLSTM(2, 3, 4)
    layer(torch.zeros(2, 1, 5, 3))
    assert layer.form == "loop"  # never measured on the CPU: results stay bit-identical
    before = torch.random.get_rng_state()
    assert choose_lstm_form(layer, torch.zeros(2, 8, 5, 3)) in ("loop", "batched")
    assert torch.equal(before, torch.random.get_rng_state())  # measuring consumes no random numbers


def _methods():
    from fathom_bench.methods import discover_methods

    return sorted(discover_methods())


@pytest.mark.parametrize("method", _methods())
@pytest.mark.parametrize("form", ["loop", "batched"])
def test_every_method_runs_on_another_device(one_torch_thread, method, form):
    from fathom_bench.methods import get_method
    from fathom_bench.problem import ProblemSpec

    problem = ProblemSpec(dataset="synthetic", task_type="regression", protocol="corrected", num_tasks=3, window=6,
                          input_dim=4, num_targets=2, task_names=("a", "b", "c"), target_names=("y0", "y1"))
    model = get_method(method).build(problem, "synthetic").to("meta")
    for module in model.modules():
        if isinstance(module, TaskLSTM):
            module.form = form
    out = model(torch.zeros(3, 5, 6, 4, device="meta"))
    assert out.device.type == "meta" and tuple(out.shape) == (3, 5, 2)
