"""ONNX: onnxruntime (the exported graph) vs PyTorch eager inference.

BlendMask R-50 and BlendMask-RT.

Same weights (random init, 100 forced detections), the same 3 coco128
photos at each config's test scale, onnxruntime with as many intra-op
threads as torch, interleaved rounds (every engine, kind and photo once per
round, rotated). Timed: end to end (image path -> DetDataSample with pasted
masks: ``inference_detector`` vs ``OnnxDetector``; ``e2e/<engine>/<model>``
is the time of the 3 photos in one round) and the network alone
(preprocessed tensor -> final detections and R x R masks: the model's
predict without pasting vs ``session.run``; ``core/<engine>/<model>``).
"""
import os.path as osp
import tempfile
import warnings

import common

ROUNDS = 5
TIMED = True
CONFIGS = {'r50': ('BlendMask R50 (56_4_14)', 'configs/blendmask_r50_3x.py'),
           'rt': ('BlendMask-RT R50', 'configs/blendmask_rt_r50_3x.py')}
PHOTOS = ('000000000034.jpg', '000000000073.jpg', '000000000138.jpg')
PHOTO_DIR = osp.join(common.REPO_ROOT, 'demo', 'data', 'coco128-seg',
                     'images', 'train2017')


def add_arguments(ap):
    pass


def _config(path: str, quick: bool):
    from mmengine.config import Config
    cfg = Config.fromfile(common.repo_config(path))
    common.strip_init(cfg.model)
    common.force_dets(cfg.model, 100)
    if quick:  # the same structure, small: a smoke test of the suite
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


def _torch_core(model, inputs, sample):
    """PyTorch's network, post-processing and blender, without pasting:
    what the exported graph computes."""
    import torch
    feats = model.extract_feat(inputs)
    results = model.bbox_head.predict(feats, [sample], rescale=False)
    bases, _ = model.mask_head(feats)
    r = results[0]
    rois = torch.cat([r.bboxes.new_zeros(len(r), 1), r.bboxes], 1)
    return model.mask_head.blender(bases, r.attns, rois).sigmoid()


def run(args):
    import onnxruntime as ort
    import torch
    from mmdet.apis import inference_detector, init_detector

    from mmblend.deploy import OnnxDetector, Preprocessor, export_onnx
    from mmblend.deploy.preprocess import img_shape_tensor
    if args.device != 'cpu':
        raise ValueError('the onnx suite runs on cpu only (--device cpu)')
    photos = [osp.join(PHOTO_DIR, p) for p in PHOTOS]
    samples, rows = {}, {'e2e': [], 'core': []}
    tmp = tempfile.mkdtemp()
    for key, (label, path) in CONFIGS.items():
        cfg = _config(path, args.quick)
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model = init_detector(cfg, None, device='cpu')
        pre = Preprocessor(cfg)
        inputs, sample = pre(photos[0])
        onnx_file = osp.join(tmp, osp.basename(path) + '.onnx')
        export_onnx(model, inputs, img_shape_tensor(sample), onnx_file)
        so = ort.SessionOptions()
        so.intra_op_num_threads = torch.get_num_threads()
        so.inter_op_num_threads = 1
        det = OnnxDetector(onnx_file, cfg, session_options=so)
        prepared = [pre(p) for p in photos]
        fns = {}
        for i, p in enumerate(photos):
            x, s = prepared[i]
            fns[('e2e', 'torch', i)] = lambda p=p: inference_detector(model,
                                                                      p)
            fns[('e2e', 'onnx', i)] = lambda p=p: det(p)
            fns[('core', 'torch', i)] = (
                lambda x=x, s=s: _torch_core(model, x, s))
            fns[('core', 'onnx', i)] = (
                lambda x=x, s=s: det.run(x, img_shape_tensor(s)))
        with torch.no_grad():
            t = common.ms(common.interleaved(fns, 'cpu', args.rounds))
        for kind in ('e2e', 'core'):
            for engine in ('torch', 'onnx'):
                samples[f'{kind}/{engine}/{key}'] = [
                    sum(r) for r in zip(*(t[(kind, engine, i)]
                                          for i in range(len(photos))))]
            for i, p in enumerate(photos):
                shape = prepared[i][1].metainfo['batch_input_shape']
                pt = common.median(t[(kind, 'torch', i)])
                ox = common.median(t[(kind, 'onnx', i)])
                rows[kind].append([label, PHOTOS[i],
                                   f'{shape[0]}x{shape[1]}', pt, ox, ox / pt])
    cols = ['model', 'photo', 'input', 'PyTorch ms (median)',
            'onnxruntime ms (median)', 'onnxruntime / PyTorch']
    return dict(
        tables={
            'End to end: image path -> DetDataSample (masks pasted)':
            dict(columns=cols, rows=rows['e2e']),
            'Network + post-processing + blender (no pipeline, no paste)':
            dict(columns=cols, rows=rows['core'])},
        samples=samples,
        notes=['random weights, 100 forced detections (score_thr 0, NMS '
               "IoU 1.0), each config's test scale; the graph exported on "
               'the first photo; onnxruntime intra_op_num_threads = torch '
               'threads.'])
