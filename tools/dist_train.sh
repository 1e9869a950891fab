#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args...]
# GPUS is the number of processes per node (works on CPU too: gloo backend).
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT.

CONFIG=$1
GPUS=$2

source "$(dirname "$0")/dist_launch.sh"
dist_launch train.py $GPUS \
    $CONFIG \
    --launcher pytorch ${@:3}
