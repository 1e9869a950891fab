# Table 1, "Assembler" (FCIS analogue): K=16 position-sensitive bases, each
# filling one 7x7 tile of the 4x4 grid of the 28x28 crop; no top-level
# attentions (the FCOS head gets no attention layer).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(
    mask_head=dict(
        basis=dict(num_bases=16),
        blender=dict(merge='assembler', bottom_resolution=28),
    )
)
