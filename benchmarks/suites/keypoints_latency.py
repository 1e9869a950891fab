"""Keypoints: latency of the keypoint branch vs the mask branch, 20 people.

The R-50 keypoint model
(``configs/keypoints/blendmask-kp_r50_fpn_ms-3x_coco-person-keypoints.py``,
random weights) on one ``--size`` image: the backbone, neck and top layer
run once; each round then times, on those features and the same
``--people`` person boxes (heights 100-400 px), the mask branch
(``mask_head.predict``: bases, blender, paste at the image size) and the
keypoint branch (``keypoint_head.predict``: bases, blender, decoding by
bicubic upsampling to each box), interleaved (``latency/mask``,
``latency/keypoint``). Their FLOPs: the ``keypoints`` suite.
"""

import copy

import common
from suites.keypoints import branch_inputs, r50_model

ROUNDS = 10
TIMED = True


def add_arguments(ap):
    ap.add_argument(
        '--size', type=int, nargs=2, default=[800, 1216], help='input H W'
    )
    ap.add_argument('--people', type=int, default=20)


def run(args):
    import torch

    if args.quick:
        args.size, args.people = [256, 384], 4
    model = r50_model(args.device)
    h, w = args.size
    x, samples, mask_dets, kp_dets = branch_inputs(
        model, h, w, args.device, args.people
    )

    def mask_branch():
        with torch.no_grad():
            model.mask_head.predict(
                x, samples, results_list=copy.deepcopy(mask_dets)
            )

    def keypoint_branch():
        with torch.no_grad():
            model.keypoint_head.predict(
                x, samples, results_list=copy.deepcopy(kp_dets)
            )

    t = common.ms(
        common.interleaved(
            dict(mask=mask_branch, keypoint=keypoint_branch),
            args.device,
            args.rounds,
            args.min_timing,
        )
    )
    med = {k: common.median(v) for k, v in t.items()}
    return dict(
        tables={
            f'Branch latency at {args.people} people, {h}x{w} (ms)': dict(
                columns=['branch', 'ms (median)', 'x mask branch'],
                rows=[[k, v, v / med['mask']] for k, v in med.items()],
            )
        },
        samples={f'latency/{k}': v for k, v in t.items()},
        notes=[
            f'{args.rounds} interleaved rounds after a warm-up; the '
            'same features and boxes for both branches.'
        ],
    )
