# The modern variant: MMDetection's standard Faster R-CNN R-50-FPN 1x on VOC 07+12 (not in the paper),
# unchanged but for the backbone weights, which are the harness's own ImageNet run (converted and loaded by
# run_all.py, checked key by key; init_cfg=None, nothing is downloaded) and the VOC07 metric's per-class APs.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py']
custom_imports = dict(imports=['harness.detection.mmdet_modules'], allow_failed_imports=False)

model = dict(backbone=dict(init_cfg=None))
val_evaluator = dict(_delete_=True, type='VOC07Metric')
test_evaluator = val_evaluator
