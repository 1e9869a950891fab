from .adelaidet_iou_loss import AdelaiDetIoULoss, adelaidet_iou_loss

__all__ = ['AdelaiDetIoULoss', 'adelaidet_iou_loss']
