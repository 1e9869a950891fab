"""ProgressBarHook: a bar of the run's iterations (resumed runs start at
their iteration) that shows the loss every ``interval`` iterations, on the
main process only."""

from types import SimpleNamespace

import torch

from mmblend.engine import ProgressBarHook


def test_bar_counts_iterations_and_shows_the_loss(capsys):
    hook = ProgressBarHook(interval=2)
    runner = SimpleNamespace(max_iters=10, iter=4)  # resumed at iteration 4
    hook.before_train(runner)
    assert (hook._bar.n, hook._bar.total) == (4, 10)
    for it in (4, 5):
        runner.iter = it
        hook.after_train_iter(
            runner, it, outputs=dict(loss=torch.tensor(it + 0.25))
        )
    assert hook._bar.n == 6
    # only iteration 6 (the 2nd of interval 2) set the loss
    assert hook._bar.postfix == 'loss=5.250'
    hook.after_train(runner)
    assert hook._bar is None
    assert '6/10' in capsys.readouterr().err  # tqdm's default: stderr


def test_no_bar_off_the_main_process(monkeypatch, capsys):
    monkeypatch.setattr('mmengine.dist.is_main_process', lambda: False)
    hook = ProgressBarHook()
    runner = SimpleNamespace(max_iters=10, iter=0)
    hook.before_train(runner)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.0)))
    hook.after_train(runner)
    assert hook._bar is None and capsys.readouterr().err == ''
