"""Run mmdet's own ``tools/analysis_tools/analyze_logs.py`` (same
sub-commands and arguments) on the logs of iteration-based training:

    python tools/analysis_tools/analyze_logs.py plot_curve \
        WORK_DIR/TIMESTAMP/vis_data/scalars.json --keys loss loss_mask \
        --out losses.png
    python tools/analysis_tools/analyze_logs.py plot_curve scalars.json \
        --keys segm_mAP --out ap.png
    python tools/analysis_tools/analyze_logs.py cal_train_time scalars.json

mmdet's tool groups a log by epoch and reads every record without a metric
name (``coco/...``) as a training iteration. An iteration-based log has no
epoch, and a validation that computed no metric (mmdet's ``CocoMetric`` on
a model that detects nothing yet) writes a record with only ``data_time``,
``time`` and ``step``: ``plot_curve`` then stops with "x and y must have
same first dimension", and metric curves have a single x for every
validation. Here the log is read the way mmdet's tool expects an epoch-based
one: one group per validation, named by the last training iteration before
it (the x of metric curves, labelled "epoch" by mmdet's tool), training
records (those with a ``loss``) in it, records that are neither skipped.
Epoch-based logs are read by mmdet's own reader.
"""

import importlib.util
import json
import os.path as osp
from collections import defaultdict

import mmdet

MMDET_TOOL = osp.join(
    osp.dirname(mmdet.__file__),
    '.mim',
    'tools',
    'analysis_tools',
    'analyze_logs.py',
)


def load_mmdet_tool():
    """mmdet's script as a module (it needs matplotlib and seaborn)."""
    spec = importlib.util.spec_from_file_location(
        'mmdet_analyze_logs', MMDET_TOOL
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def load_iter_log(path: str) -> dict:
    """``{group: {key: [values]}}`` of an iteration-based ``scalars.json``:
    a group per validation, keyed by the last training iteration before it;
    metric names without their prefix (``coco/segm_mAP`` -> ``segm_mAP``),
    as mmdet's reader does."""
    log_dict, group, last_iter = {}, defaultdict(list), 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            metrics = {
                k.split('/')[-1]: v for k, v in record.items() if '/' in k
            }
            if 'loss' in record:
                for k, v in record.items():
                    group[k].append(v)
                last_iter = record.get('step', last_iter)
            elif metrics:
                for k, v in metrics.items():
                    group[k].append(v)
                log_dict[last_iter], group = group, defaultdict(list)
    if group:
        log_dict[last_iter] = group
    return log_dict


def main() -> None:
    tool = load_mmdet_tool()
    mmdet_reader = tool.load_json_logs

    def load_json_logs(json_logs):
        out = []
        for path in json_logs:
            with open(path) as f:
                by_epoch = any(
                    'epoch' in json.loads(line) for line in f if line.strip()
                )
            out += mmdet_reader([path]) if by_epoch else [load_iter_log(path)]
        return out

    tool.load_json_logs = load_json_logs
    tool.main()


if __name__ == '__main__':
    main()
