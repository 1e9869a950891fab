"""onnxruntime (exported graph) vs PyTorch eager inference of BlendMask on CPU.

Same weights (random init, 100 forced detections), same coco128 photos at
each config's test scale, one thread each (``--threads``), interleaved
rounds. Timed: end to end (image path -> DetDataSample with pasted masks:
``inference_detector`` vs ``OnnxDetector``) and the network alone
(preprocessed tensor -> final detections and R x R masks:
``model.predict`` without pasting vs ``session.run``). Target: onnxruntime
<= 0.8x PyTorch's end-to-end latency.
"""
import os.path as osp
import sys
import tempfile
import warnings

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402

TARGET = 0.8
CONFIGS = (('BlendMask R50 (56_4_14)', 'configs/blendmask_r50_3x.py'),
           ('BlendMask-RT R50', 'configs/blendmask_rt_r50_3x.py'))
PHOTOS = ('000000000034.jpg', '000000000073.jpg', '000000000138.jpg')
PHOTO_DIR = osp.join(common.REPO_ROOT, 'demo', 'data', 'coco128-seg',
                     'images', 'train2017')


def _config(path: str, quick: bool):
    from mmengine.config import Config
    cfg = Config.fromfile(common.repo_config(path))
    common.strip_init(cfg.model)
    common.force_dets(cfg.model, 100)
    if quick:  # the same structure, small: a smoke test of the script
        m = cfg.model
        gn = dict(type='GN', num_groups=8, requires_grad=True)
        m.backbone.update(depth=18, base_channels=16)
        m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
        m.bbox_head.update(in_channels=32, feat_channels=32, norm_cfg=gn)
        m.mask_head.basis.update(in_channels=32, channels=32,
                                 sem_channels=32, norm_cfg=gn)
        if m.mask_head.basis.type == 'ProtoNetBasis':
            m.mask_head.basis.update(refine_channels=32)
        for t in cfg.test_dataloader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (288, 192)
    return cfg


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.set_defaults(threads=1)
    ap.add_argument('--rounds', type=int, default=5)
    args = common.parse_args(ap, argv)
    common.setup()
    import torch
    from mmdet.apis import inference_detector, init_detector

    from mmblend.deploy import OnnxDetector, Preprocessor, export_onnx
    from mmblend.deploy.preprocess import img_shape_tensor
    info = common.machine_info('cpu')
    info['load_average_start'] = list(__import__('os').getloadavg())
    rounds = 2 if args.quick else args.rounds
    photos = [osp.join(PHOTO_DIR, p) for p in PHOTOS]
    rows, core_rows, extra = [], [], {}
    tmp = tempfile.mkdtemp()
    for label, path in CONFIGS:
        cfg = _config(path, args.quick)
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model = init_detector(cfg, None, device='cpu')
        pre = Preprocessor(cfg)
        inputs, sample = pre(photos[0])
        onnx_file = osp.join(tmp, osp.basename(path) + '.onnx')
        export_onnx(model, inputs, img_shape_tensor(sample), onnx_file)
        det = OnnxDetector(onnx_file, cfg, num_threads=torch.get_num_threads())
        prepared = [pre(p) for p in photos]
        fns = {}
        for i, p in enumerate(photos):
            fns[('torch', 'e2e', i)] = (
                lambda p=p: inference_detector(model, p))
            fns[('onnx', 'e2e', i)] = lambda p=p: det(p)
            x, s = prepared[i]
            fns[('torch', 'core', i)] = (
                lambda x=x, s=s: _torch_core(model, x, s))
            fns[('onnx', 'core', i)] = (
                lambda x=x, s=s: det.run(x, img_shape_tensor(s)))
        with torch.no_grad():
            times = common.interleaved(fns, 'cpu', rounds)
        for kind, table in (('e2e', rows), ('core', core_rows)):
            for i, p in enumerate(photos):
                t = common.median(times[('torch', kind, i)]) * 1e3
                o = common.median(times[('onnx', kind, i)]) * 1e3
                shape = tuple(prepared[i][1].metainfo['batch_input_shape'])
                table.append([label, PHOTOS[i], f'{shape[0]}x{shape[1]}', t,
                              o, o / t])
            # ratio of per-photo medians, then the median over photos
            ratio = common.median([r[-1] for r in table if r[0] == label])
            extra.setdefault('ratio_median', {})[f'{label} {kind}'] = ratio
    info = common.finish_info(info)
    cols = ['model', 'photo', 'input', 'PyTorch ms (median)',
            'onnxruntime ms (median)', 'onnxruntime / PyTorch']
    tables = {
        'End to end: image path -> DetDataSample (masks pasted)':
        dict(columns=cols, rows=rows),
        'Network + post-processing + blender (no pipeline, no paste)':
        dict(columns=cols, rows=core_rows),
    }
    e2e = {k: v for k, v in extra['ratio_median'].items() if 'e2e' in k}
    extra['target'] = TARGET
    extra['meets_target'] = all(v <= TARGET for v in e2e.values())
    name = 'bench_onnx_quick' if args.quick else 'bench_onnx'
    notes = [
        f'{rounds} interleaved rounds after 1 warm-up, every (engine, '
        'kind, photo) once per round in rotated order; medians per photo.',
        f'torch threads {torch.get_num_threads()}, onnxruntime '
        f'intra_op_num_threads {torch.get_num_threads()}; random weights, '
        '100 forced detections (score_thr 0, NMS IoU 1.0), each config\'s '
        'test scale; the graph exported on the first photo.',
        'Ratio medians over photos: ' + ', '.join(
            f'{k}: {v:.3f}' for k, v in extra['ratio_median'].items()) +
        f'; target e2e <= {TARGET}: {extra["meets_target"]}.',
    ]
    common.write_results(args.out, name, info, tables, extra, notes)
    print('\n'.join(notes))
    return extra


def _torch_core(model, inputs, sample):
    """PyTorch's network, post-processing and blender, without pasting:
    what the exported graph computes."""
    feats = model.extract_feat(inputs)
    results = model.bbox_head.predict(feats, [sample], rescale=False)
    bases, _ = model.mask_head(feats)
    r = results[0]
    rois = __import__('torch').cat([r.bboxes.new_zeros(len(r), 1), r.bboxes],
                                   1)
    return model.mask_head.blender(bases, r.attns, rois).sigmoid()


if __name__ == '__main__':
    main()
