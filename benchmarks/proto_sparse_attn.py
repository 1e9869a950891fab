"""Prototype of the proposed inference fix, measured end to end (mmblend's
code is NOT changed: the prototype is a subclass swapped in here).

Hot spot: ``BlendMaskHead.top_layer`` (3x3 conv 256 -> K*M*M = 784) runs
densely on every FPN location although only the <= max_per_img detections'
attentions are used. The prototype keeps the regression-tower output,
carries each candidate's (level, location) through score filtering and NMS,
and evaluates the top layer only at the final detections
(``attn_sparse.sparse_conv3x3``: same weights, same values).

Checks: identical boxes, scores, labels and masks to the dense head (same
weights, same input); times dense BlendMask, sparse-attention BlendMask,
FCOS and CondInst round-robin.

    python benchmarks/proto_sparse_attn.py [--size 512 768] [--repeats 3]
"""
import argparse
import copy
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
import peers  # noqa: E402
import torch  # noqa: E402
from attn_sparse import sparse_conv3x3  # noqa: E402


def make_sparse_head_class():
    from mmdet.models.utils import filter_scores_and_topk
    from mmdet.structures.bbox import cat_boxes
    from mmengine.structures import InstanceData

    from mmblend.models.dense_heads.blendmask_head import BlendMaskHead

    class SparseAttnBlendMaskHead(BlendMaskHead):
        def forward_single(self, x, scale, stride):
            if self.training or self.top_layer is None:
                return super().forward_single(x, scale, stride)
            top = self.top_layer
            self.top_layer = torch.nn.Identity()  # return the tower output
            try:
                return super().forward_single(x, scale, stride)
            finally:
                self.top_layer = top

        def _predict_by_feat_single(self, cls_score_list, bbox_pred_list,
                                    score_factor_list, param_pred_list,
                                    mlvl_points, mlvl_strides, img_meta, cfg,
                                    rescale=False, with_nms=True):
            cfg = copy.deepcopy(self.test_cfg if cfg is None else cfg)
            nms_pre = cfg.get('nms_pre', -1)
            score_thr = cfg.get('score_thr', 0)
            bb, pts, sc, lb, lv, pix = [], [], [], [], [], []
            for lvl, (cls_score, bbox_pred, ctr, points) in enumerate(zip(
                    cls_score_list, bbox_pred_list, score_factor_list,
                    mlvl_points)):
                n = cls_score.shape[-2] * cls_score.shape[-1]
                scores = cls_score.permute(1, 2, 0).reshape(
                    n, self.cls_out_channels).sigmoid()
                c = ctr.permute(1, 2, 0).reshape(n).sigmoid()
                scores = scores * c[:, None]
                scores, labels, _, kept = filter_scores_and_topk(
                    scores, score_thr, nms_pre, dict(
                        bbox_pred=bbox_pred.permute(1, 2, 0).reshape(n, 4),
                        points=points,
                        pix=torch.arange(n, device=points.device)))
                bb.append(kept['bbox_pred'])
                pts.append(kept['points'])
                pix.append(kept['pix'])
                lv.append(torch.full_like(kept['pix'], lvl))
                sc.append(scores)
                lb.append(labels)
            results = InstanceData()
            results.bboxes = self.bbox_coder.decode(
                cat_boxes(pts), torch.cat(bb), max_shape=img_meta['img_shape'])
            results.scores = torch.cat(sc).sqrt()
            results.labels = torch.cat(lb)
            results.lvl = torch.cat(lv)
            results.pix = torch.cat(pix)
            results = self._bbox_post_process(
                results=results, cfg=cfg, rescale=rescale,
                with_nms=with_nms, img_meta=img_meta)
            widths = torch.tensor([p.shape[-1] for p in param_pred_list],
                                  device=results.pix.device)
            w = widths[results.lvl]
            results.attns = sparse_conv3x3(
                list(param_pred_list), self.top_layer, results.lvl,
                results.pix // w, results.pix % w)
            del results.lvl, results.pix
            return results

    return SparseAttnBlendMaskHead


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, nargs=2, default=[512, 768])
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--out', default=osp.join(common.REPO_ROOT, 'benchmarks',
                                              'results'))
    ap.add_argument('--quick', action='store_true')
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.size, args.repeats = [96, 96], 1
    common.setup()
    from bench_inference import get_model, make_runner
    info = common.machine_info('cpu')
    H, W = args.size
    dense = get_model('blendmask', 'cpu')
    sparse = get_model('blendmask', 'cpu')
    sparse.load_state_dict(dense.state_dict())
    sparse.bbox_head.__class__ = make_sparse_head_class()
    runners = dict(blendmask=make_runner(dense, H, W, 'cpu'),
                   blendmask_sparse_attn=make_runner(sparse, H, W, 'cpu'))
    a, b = runners['blendmask']()[0].pred_instances, \
        runners['blendmask_sparse_attn']()[0].pred_instances
    same = dict(
        n=(len(a), len(b)),
        bboxes=torch.equal(a.bboxes, b.bboxes),
        labels=torch.equal(a.labels, b.labels),
        scores=torch.equal(a.scores, b.scores),
        mask_pixels_differing=int((a.masks != b.masks).sum()),
        mask_pixels=int(a.masks.sum()))
    print('equivalence', same, flush=True)
    peers_ = ['fcos', 'condinst'] if not args.quick else ['fcos']
    for n in peers_:
        runners[n] = make_runner(get_model(n, 'cpu'), H, W, 'cpu')
    t = common.interleaved(runners, 'cpu', args.repeats, warmup=1)
    ms = {k: 1e3 * common.median(v) for k, v in t.items()}
    base = ms['blendmask']
    rows = [[k, v, v / base, v / ms['fcos'],
             v / ms['condinst'] if 'condinst' in ms else float('nan')]
            for k, v in ms.items()]
    for r in rows:
        print(f'{r[0]:24s} {r[1]:9.1f} ms  x dense BlendMask {r[2]:.2f}  '
              f'/FCOS {r[3]:.2f}  /CondInst {r[4]:.2f}', flush=True)
    common.finish_info(info)
    name = 'proto_sparse_attn' + ('_quick' if args.quick else '')
    os.makedirs(args.out, exist_ok=True)
    common.write_results(args.out, name, info, {
        'Sparse top-layer prototype (100 forced detections)': dict(
            columns=['model', 'latency ms (median)', 'x dense BlendMask',
                     'x FCOS', 'x CondInst'], rows=rows),
        'Equivalence with the dense head': dict(
            columns=list(same), rows=[[str(v) for v in same.values()]])},
        dict(latency_ms=ms, raw_s=t, equivalence=same, args=vars(args)),
        [f'input {H}x{W}, random weights, score_thr=0 + NMS IoU 1.0 + '
         'max_per_img=100 (100 detections); torch threads '
         f'{torch.get_num_threads()}; round-robin, median of '
         f'{args.repeats} after 1 warm-up.'])


if __name__ == '__main__':
    main()
