"""BlendMask keypoints (issue 28): what the small config learns in a fixed
budget, and what the keypoint branch costs next to the mask branch.

Parts (``--part``), each writing its own result file:

* ``ap`` -> ``bench_keypoints_ap``: trains
  ``configs/keypoints/blendmask-kp_r18_coco-mini-keypoints.py`` from scratch
  with mmengine's Runner for ``--iters`` iterations (the config's 1200 by
  default) on the 28 coco-mini-keypoints training photos, then evaluates
  box, mask and keypoint AP on the training photos and on the 32 held-out
  val photos. From scratch on 28 photos val AP is expected near 0 (it
  measures fitting, not generalisation). Wall time is recorded.
* ``cost`` -> ``bench_keypoints_cost``: parameters and FLOPs (deterministic)
  of the candidate keypoint designs at the R-50 scale (256-channel towers)
  and of the chosen keypoint branch vs the mask branch at 20 people.
* ``latency`` -> ``bench_keypoints_latency``: wall time of the mask branch
  (bases, blender, paste) vs the keypoint branch (bases, blender, decoding)
  of the R-50 keypoint model on the same features and the same 20 person
  boxes (random weights, one 800 x 1216 image), interleaved rounds.
* ``picture`` -> ``docs/keypoints_train.jpg``: the model trained by ``ap``
  (its last checkpoint) on four training photos through mmdet's
  ``DetInferencer`` (what ``tools/image_demo.py`` runs), tiled 2 x 2.

FLOPs: 2 x multiply-adds of convolutions/matmuls (torch.utils.flop_counter:
the top layer at the 20 detections and the bottom module); the blend
(elementwise) is counted by hand, RoIAlign and the bicubic decoding not.

    python benchmarks/bench_keypoints.py --part ap [--iters 1200]
    python benchmarks/bench_keypoints.py --part cost
    python benchmarks/bench_keypoints.py --part latency --threads 1 \
        [--repeats 10]
    python benchmarks/bench_keypoints.py --part picture
"""
import copy
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402

SMALL = 'configs/keypoints/blendmask-kp_r18_coco-mini-keypoints.py'
R50 = 'configs/keypoints/blendmask-kp_r50_fpn_ms-3x_coco-person-keypoints.py'
DATA = osp.join(common.REPO_ROOT, '..', 'shared', 'data',
                'coco-mini-keypoints')
NUM_PEOPLE = 20
J = 17
# (name, shared_bases, shared_attention, bases K per keypoint, M)
DESIGNS = (
    ('shared 4 bases, attention per keypoint, M=14', True, False, 4, 14),
    ('shared 4 bases, attention per keypoint, M=7', True, False, 4, 7),
    ('17x4 keypoint bases, shared attention, M=14 (chosen)', False, True, 4,
     14),
    ('17x4 keypoint bases, shared attention, M=7', False, True, 4, 7),
    ('17x4 keypoint bases, attention per keypoint, M=2', False, False, 4, 2),
)


# ------------------------------------------------------------------- ap --
def ap_part(args):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(common.repo_config(SMALL))
    iters = args.iters or cfg.train_cfg.max_iters
    if args.quick:
        iters = 2
    work = osp.join(args.work_dir, 'bench_keypoints_ap')
    cfg.work_dir = work
    cfg.log_level = 'WARNING'
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    cfg.param_scheduler[1].update(T_max=iters, end=iters)
    cfg.default_hooks.checkpoint.interval = iters
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = DATA + '/'
    cfg.val_evaluator.ann_file = osp.join(DATA, 'person_keypoints_val.json')
    cfg.test_evaluator = cfg.val_evaluator
    if args.quick:  # 4 photos, no background workers
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].update(num_workers=0, persistent_workers=False)
            cfg[key].dataset.indices = 4
        cfg.train_dataloader.batch_size = 2
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_s = time.perf_counter() - start
    splits = {}
    for split, prefix in (('train', 'train2017'), ('val', 'val2017')):
        ann = osp.join(DATA, f'person_keypoints_{split}.json')
        test_cfg = copy.deepcopy(cfg)
        test_cfg.test_dataloader.dataset.update(
            ann_file=f'person_keypoints_{split}.json',
            data_prefix=dict(img=f'images/{prefix}/'))
        test_cfg.test_evaluator.ann_file = ann
        test_cfg.load_from = osp.join(work, f'iter_{iters}.pth')
        test_cfg.work_dir = osp.join(work, f'test_{split}')
        metrics = Runner.from_cfg(test_cfg).test()
        splits[split] = {k.split('/')[-1]: v for k, v in metrics.items()
                         if k.endswith(('keypoints_mAP', 'keypoints_mAP_50',
                                        'segm_mAP', 'bbox_mAP'))}
    wall_s = time.perf_counter() - start
    keys = ('keypoints_mAP', 'keypoints_mAP_50', 'segm_mAP', 'bbox_mAP')
    rows = [[split] + [splits[split].get(k, float('nan')) for k in keys]
            for split in ('train', 'val')]
    info = common.finish_info(common.machine_info('cpu'))
    name = 'bench_keypoints_ap' + ('_quick' if args.quick else '')
    common.write_results(args.out, name, info, {
        'AP after a fixed budget (from scratch)': dict(
            columns=['split', 'keypoint AP', 'keypoint AP50', 'mask AP',
                     'box AP'], rows=rows)},
        dict(iters=iters, train_s=train_s, wall_s=wall_s, splits=splits,
             config=SMALL), [
        f'{SMALL}: {iters} iterations at batch '
        f'{cfg.train_dataloader.batch_size} from scratch on the 28 '
        f'training photos; training {train_s / 60:.1f} min, in all '
        f'{wall_s / 60:.1f} min on this machine.',
        'val: 32 held-out photos; from scratch on 28 photos nothing '
        'generalises, val AP near 0 is expected.'])
    return splits


# ----------------------------------------------------------------- cost --
def r50_model(device='cpu', keypoints=True):
    from mmengine.config import Config
    cfg = Config.fromfile(common.repo_config(R50))
    common.strip_init(cfg.model)
    if not keypoints:
        cfg.model.pop('keypoint_head')
    return common.build_model(cfg, device).eval()


def people(n, h, w, seed=0):
    """``n`` person-shaped boxes (heights 100-400 px, width 0.4 x height)
    inside an ``h x w`` image, reproducible."""
    g = torch.Generator().manual_seed(seed)
    bh = 100 + 300 * torch.rand(n, generator=g)
    bw = 0.4 * bh
    x1 = (w - bw) * torch.rand(n, generator=g)
    y1 = (h - bh) * torch.rand(n, generator=g)
    return torch.stack([x1, y1, x1 + bw, y1 + bh], dim=1)


def branch_inputs(model, h, w, device, n=NUM_PEOPLE):
    """(features, samples, detections for the mask and keypoint heads): the
    shared part of inference, done once."""
    from mmengine.structures import InstanceData
    inputs, samples = common.fake_batch(model, 1, h, w, device)
    with torch.no_grad():
        x = model.extract_feat(inputs)
        towers = model.bbox_head.forward(x)[0]
    # the detections' attentions from the top layer at n prior locations
    boxes = people(n, h, w).to(device)
    priors = torch.randperm(sum(t.shape[-2] * t.shape[-1] for t in towers),
                            generator=torch.Generator().manual_seed(1))[:n]
    with torch.no_grad():
        attns = model.bbox_head.attns_at([t[0] for t in towers],
                                         priors.to(device))
    det = InstanceData(bboxes=boxes, scores=torch.rand(n, device=device),
                       labels=torch.zeros(n, dtype=torch.long, device=device),
                       attns=attns)
    mask_dets, kp_dets = model.split_attns([det])
    return x, samples, mask_dets, kp_dets


def flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        fn()
    return fc.get_total_flops()


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def top_layer_share(tower_channels: int, channels: int) -> int:
    """Parameters of ``channels`` outputs of the 3x3 top layer."""
    return channels * (tower_channels * 9 + 1)


def blend_flops(n: int, groups: int, K: int, R: int) -> float:
    """Hand count of the blend: softmax-weighted sum of K crops per map
    (multiply + add) over ``groups`` R x R maps per instance."""
    return 2.0 * n * groups * K * R * R


def cost_part(args):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    model = r50_model()
    C = model.bbox_head.top_layer.in_channels
    h, w = (256, 384) if args.quick else (800, 1216)
    x, samples, mask_dets, kp_dets = branch_inputs(model, h, w, 'cpu')
    n = NUM_PEOPLE
    base = Config.fromfile(common.repo_config(R50)).model.keypoint_head
    design_rows, designs = [], {}
    for name, shared_b, shared_a, K, M in DESIGNS:
        cfg = copy.deepcopy(base)
        cfg.basis.num_bases = K if shared_b else J * K
        cfg.blender.update(shared_bases=shared_b, shared_attention=shared_a,
                           attn_size=M)
        head = MODELS.build(cfg).eval()
        ch = head.blender.attn_channels
        top = top_layer_share(C, ch)
        # the top layer at the n detections: a [n, 9C] x [9C, ch] matmul
        top_gflops = 2.0 * n * 9 * C * ch / 1e9
        basis_gflops = flops(lambda: head(x)) / 1e9
        blend = blend_flops(n, J, K, head.blender.bottom_resolution) / 1e9
        row = dict(attn_channels=ch, top_params_m=top / 1e6,
                   basis_params_m=n_params(head) / 1e6,
                   top_gflops=top_gflops, basis_gflops=basis_gflops,
                   blend_gflops=blend)
        designs[name] = row
        design_rows.append([name, ch, row['top_params_m'],
                            row['basis_params_m'], top_gflops, basis_gflops,
                            blend])
    # the chosen branch vs the mask branch, as built in the R-50 model
    mask_ch = model.mask_head.blender.attn_channels
    kp_ch = model.keypoint_head.blender.attn_channels
    mb, kb = model.mask_head.blender, model.keypoint_head.blender
    branches = {
        'mask': dict(
            top_params_m=top_layer_share(C, mask_ch) / 1e6,
            head_params_m=n_params(model.mask_head) / 1e6,
            gflops=(flops(lambda: model.mask_head.predict(
                x, samples, results_list=copy.deepcopy(mask_dets)))
                    + 2.0 * n * 9 * C * mask_ch) / 1e9,
            blend_gflops=blend_flops(n, 1, mb.num_bases,
                                     mb.bottom_resolution) / 1e9),
        'keypoint': dict(
            top_params_m=top_layer_share(C, kp_ch) / 1e6,
            head_params_m=n_params(model.keypoint_head) / 1e6,
            gflops=(flops(lambda: model.keypoint_head.predict(
                x, samples, copy.deepcopy(kp_dets)))
                    + 2.0 * n * 9 * C * kp_ch) / 1e9,
            blend_gflops=blend_flops(n, J, kb.bases_per_keypoint,
                                     kb.bottom_resolution) / 1e9),
    }
    whole = flops(lambda: model.extract_feat(
        common.fake_batch(model, 1, h, w, 'cpu')[0])) / 1e9
    branch_rows = [[k, v['top_params_m'], v['head_params_m'], v['gflops'],
                    v['blend_gflops']] for k, v in branches.items()]
    info = common.finish_info(common.machine_info('cpu'))
    name = 'bench_keypoints_cost' + ('_quick' if args.quick else '')
    common.write_results(args.out, name, info, {
        f'Keypoint designs at R-50 (top layer on {C} channels, '
        f'{n} people, {h}x{w})': dict(
            columns=['design', 'top-layer channels', 'top-layer params (M)',
                     'bottom + blender params (M)', 'top GFLOPs',
                     'bottom GFLOPs', 'blend GFLOPs (hand)'],
            rows=design_rows),
        f'Keypoint branch vs mask branch ({n} people, {h}x{w})': dict(
            columns=['branch', 'top-layer params (M)', 'head params (M)',
                     'GFLOPs (top at dets + bottom + head convs)',
                     'blend GFLOPs (hand)'],
            rows=branch_rows)},
        dict(designs=designs, branches=branches,
             backbone_neck_gflops=whole, size=[h, w], people=n), [
        'Parameters and FLOPs are deterministic (random weights). The top '
        'layer runs at the detections only (BlendMask evaluates it there), '
        f'so its FLOPs scale with the {n} people; its parameters do not. '
        f'Backbone + FPN: {whole:.1f} GFLOPs at this size.',
        'The shared-bases designs could read the mask branch\'s 4 bases '
        '(no second bottom module); they are built here with their own '
        'bottom module of the same width to compare like with like.'])
    return designs, branches


# -------------------------------------------------------------- latency --
def latency_part(args):
    model = r50_model(args.device)
    h, w = (256, 384) if args.quick else (800, 1216)
    x, samples, mask_dets, kp_dets = branch_inputs(model, h, w, args.device)

    def mask_branch():
        with torch.no_grad():
            model.mask_head.predict(x, samples,
                                    results_list=copy.deepcopy(mask_dets))

    def keypoint_branch():
        with torch.no_grad():
            model.keypoint_head.predict(x, samples, copy.deepcopy(kp_dets))

    repeats = 2 if args.quick else args.repeats
    times = common.interleaved(
        dict(mask=mask_branch, keypoint=keypoint_branch), args.device,
        repeats)
    med = {k: common.median(v) * 1000 for k, v in times.items()}
    info = common.finish_info(common.machine_info(args.device))
    name = 'bench_keypoints_latency' + ('_quick' if args.quick else '')
    common.write_results(args.out, name, info, {
        f'Branch latency at {NUM_PEOPLE} people (ms, median)': dict(
            columns=['branch', 'ms', 'x mask branch'],
            rows=[[k, v, v / med['mask']] for k, v in med.items()])},
        dict(times_s=times, median_ms=med, size=[h, w]), [
        f'R-50 keypoint model ({R50}), random weights, one {h}x{w} image, '
        f'the same features and {NUM_PEOPLE} person boxes for both '
        'branches; mask: bases + blender + paste at the image size; '
        'keypoint: bases + blender + decoding (bicubic upsampling to each '
        f'box); {repeats} interleaved rounds after a warm-up.'])
    return med


# -------------------------------------------------------------- picture --
PICTURE_IDS = ('000000535506', '000000000790', '000000442450', '000000129648')


def picture_part(args):
    import mmcv
    import numpy as np
    from mmdet.apis import DetInferencer
    from mmengine.config import Config
    work = osp.join(args.work_dir, 'bench_keypoints_ap')
    iters = args.iters or Config.fromfile(
        common.repo_config(SMALL)).train_cfg.max_iters
    ckpt = osp.join(work, f'iter_{iters}.pth')
    if not osp.isfile(ckpt):
        raise FileNotFoundError(f'{ckpt} not found: run --part ap first')
    inferencer = DetInferencer(model=common.repo_config(SMALL),
                               weights=ckpt, device=args.device)
    photos = [osp.join(DATA, 'images', 'train2017', f'{i}.jpg')
              for i in PICTURE_IDS[:2 if args.quick else 4]]
    out = inferencer(photos, pred_score_thr=0.3, return_vis=True,
                     no_save_vis=True, no_save_pred=True)
    height = 360
    tiles = [mmcv.imrescale(v, (10000, height)) for v in out['visualization']]
    rows = [np.concatenate(tiles[i:i + 2], axis=1)
            for i in range(0, len(tiles), 2)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)),
                   constant_values=255) for r in rows]
    path = args.picture or osp.join(common.REPO_ROOT, 'docs',
                                    'keypoints_train.jpg')
    mmcv.imwrite(np.concatenate(rows, axis=0)[..., ::-1], path,
                 params=[1, 85])  # RGB -> BGR, JPEG quality 85
    return path


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--part', choices=['ap', 'cost', 'latency', 'picture'],
                    required=True)
    ap.add_argument('--picture', help='picture: output path (default '
                    'docs/keypoints_train.jpg)')
    ap.add_argument('--iters', type=int, default=0,
                    help='ap: training iterations (0: the config\'s)')
    ap.add_argument('--repeats', type=int, default=10)
    ap.add_argument('--work-dir', default=osp.join(common.REPO_ROOT,
                                                   'work_dirs'))
    args = common.parse_args(ap, argv)
    common.setup()
    return dict(ap=ap_part, cost=cost_part, latency=latency_part,
                picture=picture_part)[args.part](args)


if __name__ == '__main__':
    main()
