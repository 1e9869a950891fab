"""BadImageEvaluator's bad_images is summed over ranks: 2 gloo processes,
each with its share of a distributed sampler's samples (padding included),
both report the count of the whole dataset."""

import socket

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

SIZE = 7  # dataset size; DistributedSampler pads rank 1 with sample 0
BAD = {0, 4, 5}  # 0 is also the padding: counted once


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rank(rank, port, out):
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2
    )
    import mmblend  # noqa: F401
    from mmblend.evaluation import BadImageEvaluator

    evaluator = BadImageEvaluator([])
    # DistributedSampler(shuffle=False): the dataset padded to 8 with its
    # first sample, rank r takes every second one from r
    for idx in (list(range(SIZE)) + [0])[rank::2]:
        s = DetDataSample(metainfo=dict(img_id=idx))
        if idx in BAD:
            s.set_metainfo(dict(bad_image='empty file'))
        s.pred_instances = InstanceData(bboxes=torch.zeros(1, 4))
        evaluator.process([s])
    out[rank] = evaluator.evaluate(SIZE)['data/bad_images']
    torch_dist.destroy_process_group()


def test_bad_images_summed_over_ranks():
    ctx = mp.get_context('spawn')
    with ctx.Manager() as manager:
        out = manager.dict()
        mp.start_processes(
            _rank, args=(_free_port(), out), nprocs=2, start_method='spawn'
        )
        assert dict(out) == {0: len(BAD), 1: len(BAD)}
